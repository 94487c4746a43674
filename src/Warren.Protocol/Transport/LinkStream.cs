using System.Buffers;
using System.Net.Security;
using System.Net.Sockets;

namespace Warren.Protocol.Transport;

/// <summary>
/// The agent link's socket as the stream under its <see cref="System.Net.Security.SslStream"/> (in place of a
/// <see cref="NetworkStream"/>), shaped for how TLS uses it (docs/performance.md, "Bodies"):
/// <list type="bullet">
/// <item>Reads ahead. SslStream asks for one record at a time, each after a zero-byte read that waits for data; over a
/// plain socket that is a peek and a read per 16 KiB record. Here one receive takes up to <see cref="ReadAhead"/>
/// bytes (several records), and the records are handed out from that buffer. The buffer is rented only while it holds
/// unread bytes or a receive is pending, so an idle link holds none.</item>
/// <item>Sends a flush's records together. SslStream writes each record of a large write on its own; between
/// <see cref="BeginBatch"/> and the next flush the records are gathered (up to <see cref="WriteGather"/> bytes) and
/// leave in one send. Outside a batch (the handshake, the TLS close) every write goes straight out.</item>
/// <item>Under TLS (<see cref="StartTls"/>), hands the records out one at a time: SslStream takes as much as it is
/// given, so with several records at once it would hold the next ones itself, where nobody can see that they are
/// there. Handed out one by one, what is read ahead stays here and <see cref="HasWholeTlsRecord"/> can say so.</item>
/// </list>
/// One reader and one writer at a time, as for any stream under SslStream; the two sides share nothing.
/// </summary>
public sealed class LinkStream : Stream
{
    /// <summary>Bytes one receive may take: four full TLS records.</summary>
    internal const int ReadAhead = 64 * 1024 + 4 * 512;

    /// <summary>Bytes gathered before a send: four full TLS records, one session flush of small frames many times over.</summary>
    internal const int WriteGather = 64 * 1024 + 4 * 512;

    private readonly Socket _socket;
    private bool _ownsSocket;
    private byte[]? _read;      // rented while it holds unread bytes
    private int _readStart;
    private int _readEnd;
    // Under TLS: bytes of the record being handed out that are not handed out yet (0: at a record boundary), and the
    // bytes of a record header handed out so far when a read ended inside one.
    private bool _tlsRecords;
    private int _recordLeft;
    private int _headerHandedOut;
    private readonly byte[] _header = new byte[TlsHeaderSize];
    private byte[]? _gather;    // rented while a batch holds unsent bytes
    private int _gathered;
    private bool _batching;

    public LinkStream(Socket socket, bool ownsSocket)
    {
        ArgumentNullException.ThrowIfNull(socket);
        _socket = socket;
        _ownsSocket = ownsSocket;
    }

    public Socket Socket => _socket;

    public override bool CanRead => true;
    public override bool CanWrite => true;
    public override bool CanSeek => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    private const int TlsHeaderSize = 5;

    /// <summary>
    /// Wraps this stream in the TLS stream the link runs over, before its handshake: from the first byte, what is read
    /// is TLS records, handed out one at a time (see the class summary).
    /// </summary>
    public SslStream StartTls(bool leaveInnerStreamOpen)
    {
        _tlsRecords = true;
        return new SslStream(this, leaveInnerStreamOpen);
    }

    /// <summary>
    /// Whether the next read of the TLS stream above can be served without waiting on the socket: the rest of the
    /// record it has begun, or a whole next record (a 5-byte header, then the length it gives), is read ahead here.
    /// Reader side only; false unless <see cref="StartTls"/> made this stream hand out records one at a time.
    /// </summary>
    public bool HasWholeTlsRecord
    {
        get
        {
            if (!_tlsRecords || _headerHandedOut > 0)
            {
                return false;
            }
            var available = _readEnd - _readStart;
            if (_recordLeft > 0)
            {
                return available >= _recordLeft;
            }
            return available >= TlsHeaderSize && available >= TlsHeaderSize + RecordLength(_read!.AsSpan(_readStart));
        }
    }

    private static int RecordLength(ReadOnlySpan<byte> header) => (header[3] << 8) | header[4];

    /// <summary>
    /// Leaves TLS for sealed records (<see cref="SealedLinkStream.StartAsync"/>), at the record boundary after the
    /// TLS stream's last read: returns what was read ahead past it (the peer's first sealed bytes), and gives the
    /// socket up, so disposing this stream (as the TLS stream above it does) leaves the socket open.
    /// </summary>
    internal byte[] LeaveTls()
    {
        if (!_tlsRecords || _recordLeft != 0 || _headerHandedOut != 0 || _gathered != 0)
        {
            throw new InvalidOperationException("The link is not at a TLS record boundary.");
        }
        var rest = _readEnd > _readStart ? _read.AsSpan(_readStart, _readEnd - _readStart).ToArray() : [];
        ReturnReadBuffer();
        _tlsRecords = false;
        _ownsSocket = false;
        return rest;
    }

    /// <summary>Writes until the next flush are gathered and sent together.</summary>
    public void BeginBatch() => _batching = true;

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (_readEnd > _readStart)
        {
            return TakeBuffered(buffer.Span);
        }
        if (buffer.Length >= ReadAhead && !_tlsRecords)
        {
            try
            {
                return await _socket.ReceiveAsync(buffer, SocketFlags.None, cancellationToken).ConfigureAwait(false);
            }
            catch (SocketException ex)
            {
                throw ReadFailed(ex);
            }
        }
        // Also for a zero-byte read (SslStream waiting for its next record): the receive that waits is the one that
        // reads, so no separate peek precedes it. It holds a buffer only while it waits, one per link.
        var read = _read ??= ArrayPool<byte>.Shared.Rent(ReadAhead);
        int n;
        try
        {
            n = await _socket.ReceiveAsync(read.AsMemory(0, ReadAhead), SocketFlags.None, cancellationToken).ConfigureAwait(false);
        }
        catch (SocketException ex)
        {
            ReturnReadBuffer();
            throw ReadFailed(ex);
        }
        catch
        {
            ReturnReadBuffer();
            throw;
        }
        return TakeReceived(n, buffer.Span); // 0 for a zero-byte read: data is ready, as a socket's zero-byte read says
    }

    public override int Read(Span<byte> buffer)
    {
        if (_readEnd > _readStart)
        {
            return TakeBuffered(buffer);
        }
        if (!_tlsRecords)
        {
            try
            {
                return _socket.Receive(buffer, SocketFlags.None);
            }
            catch (SocketException ex)
            {
                throw ReadFailed(ex);
            }
        }
        // Under TLS through the read-ahead buffer too, so the record count stays right.
        var read = _read ??= ArrayPool<byte>.Shared.Rent(ReadAhead);
        int n;
        try
        {
            n = _socket.Receive(read.AsSpan(0, ReadAhead), SocketFlags.None);
        }
        catch (SocketException ex)
        {
            ReturnReadBuffer();
            throw ReadFailed(ex);
        }
        catch
        {
            ReturnReadBuffer();
            throw;
        }
        return TakeReceived(n, buffer);
    }

    /// <summary>After a receive of <paramref name="n"/> bytes into the read-ahead buffer: hands out what the caller takes.</summary>
    private int TakeReceived(int n, Span<byte> destination)
    {
        if (n == 0)
        {
            ReturnReadBuffer();
            return 0;
        }
        _readStart = 0;
        _readEnd = n;
        return TakeBuffered(destination);
    }

    // As NetworkStream does: callers (SslStream, the session) expect an IOException when the connection fails.
    private static IOException ReadFailed(SocketException ex) => new($"Unable to read data from the transport connection: {ex.Message}.", ex);

    private static IOException WriteFailed(SocketException ex) => new($"Unable to write data to the transport connection: {ex.Message}.", ex);

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    private int TakeBuffered(Span<byte> destination)
    {
        var n = Math.Min(destination.Length, _readEnd - _readStart);
        if (_tlsRecords)
        {
            n = LimitToRecord(n);
        }
        _read.AsSpan(_readStart, n).CopyTo(destination);
        _readStart += n;
        if (_readStart == _readEnd)
        {
            ReturnReadBuffer();
        }
        return n;
    }

    /// <summary>
    /// Of <paramref name="count"/> bytes a read could take, how many it takes so that it ends at the end of the record
    /// being handed out, at the latest. At a record boundary, reads the next record's header first (keeping the part
    /// of it handed out already, when an earlier read ended inside it).
    /// </summary>
    private int LimitToRecord(int count)
    {
        if (_recordLeft == 0)
        {
            var headerRest = TlsHeaderSize - _headerHandedOut;
            if (count < headerRest)
            {
                // Only part of the header: hand it out and keep it; the record's length is known once the rest is read.
                _read.AsSpan(_readStart, count).CopyTo(_header.AsSpan(_headerHandedOut));
                _headerHandedOut += count;
                return count;
            }
            _read.AsSpan(_readStart, headerRest).CopyTo(_header.AsSpan(_headerHandedOut));
            _recordLeft = TlsHeaderSize + RecordLength(_header) - _headerHandedOut;
            _headerHandedOut = 0;
        }
        count = Math.Min(count, _recordLeft);
        _recordLeft -= count;
        return count;
    }

    private void ReturnReadBuffer()
    {
        if (_read is { } read)
        {
            _read = null;
            _readStart = _readEnd = 0;
            ArrayPool<byte>.Shared.Return(read);
        }
    }

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (!_batching || buffer.Length >= WriteGather)
        {
            return _gathered == 0 ? SendAsync(buffer, cancellationToken) : SendGatheredThenAsync(buffer, cancellationToken);
        }
        if (_gathered + buffer.Length > WriteGather)
        {
            return SendGatheredThenGatherAsync(buffer, cancellationToken);
        }
        Gather(buffer.Span);
        return ValueTask.CompletedTask;
    }

    private void Gather(ReadOnlySpan<byte> bytes)
    {
        var gather = _gather ??= ArrayPool<byte>.Shared.Rent(WriteGather);
        bytes.CopyTo(gather.AsSpan(_gathered));
        _gathered += bytes.Length;
    }

    private async ValueTask SendGatheredThenAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken)
    {
        await SendGatheredAsync(cancellationToken).ConfigureAwait(false);
        await SendAsync(buffer, cancellationToken).ConfigureAwait(false);
    }

    private async ValueTask SendGatheredThenGatherAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken)
    {
        await SendGatheredAsync(cancellationToken).ConfigureAwait(false);
        Gather(buffer.Span);
    }

    private ValueTask SendGatheredAsync(CancellationToken cancellationToken)
    {
        if (_gathered == 0)
        {
            return ValueTask.CompletedTask;
        }
        var gather = _gather!;
        var length = _gathered;
        _gather = null;
        _gathered = 0;
        var send = SendAsync(gather.AsMemory(0, length), cancellationToken);
        if (send.IsCompletedSuccessfully)
        {
            ArrayPool<byte>.Shared.Return(gather);
            return ValueTask.CompletedTask;
        }
        return ReturnAfterAsync(send, gather);

        static async ValueTask ReturnAfterAsync(ValueTask send, byte[] gather)
        {
            try
            {
                await send.ConfigureAwait(false);
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(gather);
            }
        }
    }

    /// <summary>Sends all of <paramref name="buffer"/>: completes synchronously when the socket takes it at once.</summary>
    private ValueTask SendAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken)
    {
        var send = _socket.SendAsync(buffer, SocketFlags.None, cancellationToken);
        if (!send.IsCompletedSuccessfully)
        {
            return SendRestAsync(send.AsTask(), buffer, cancellationToken);
        }
        var sent = send.Result;
        return sent == buffer.Length ? ValueTask.CompletedTask : SendRestAsync(Task.FromResult(sent), buffer, cancellationToken);
    }

    private async ValueTask SendRestAsync(Task<int> first, ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken)
    {
        try
        {
            var sent = await first.ConfigureAwait(false);
            while (sent < buffer.Length)
            {
                sent += await _socket.SendAsync(buffer[sent..], SocketFlags.None, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (SocketException ex)
        {
            throw WriteFailed(ex);
        }
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        Flush();
        SendAll(buffer);
    }

    private void SendAll(ReadOnlySpan<byte> bytes)
    {
        try
        {
            while (!bytes.IsEmpty)
            {
                bytes = bytes[_socket.Send(bytes, SocketFlags.None)..];
            }
        }
        catch (SocketException ex)
        {
            throw WriteFailed(ex);
        }
    }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    /// <summary>Sends what the batch gathered and ends the batch.</summary>
    public override Task FlushAsync(CancellationToken cancellationToken)
    {
        _batching = false;
        var send = SendGatheredAsync(cancellationToken);
        return send.IsCompletedSuccessfully ? Task.CompletedTask : send.AsTask();
    }

    public override void Flush()
    {
        _batching = false;
        if (_gathered > 0)
        {
            var gather = _gather!;
            var pending = gather.AsSpan(0, _gathered);
            _gather = null;
            _gathered = 0;
            try
            {
                SendAll(pending);
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(gather);
            }
        }
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing && _ownsSocket)
        {
            _socket.Dispose();
        }
        // The buffers are not returned here: a read or send may still be using them when the link is torn down under it.
        base.Dispose(disposing);
    }
}
