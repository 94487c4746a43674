using System.Buffers;
using System.Buffers.Binary;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;

namespace Warren.Protocol.Transport;

/// <summary>
/// The agent link after TLS has agreed its keys: AES-256-GCM records straight over the socket (docs/protocol.md,
/// §1.1 "Sealed records"). TLS authenticates the edge and carries one random secret each way; from then on each
/// session flush leaves as one record, encrypted from the session's buffer into the send buffer and decrypted from
/// the receive buffer into the session's, with no copies through <see cref="SslStream"/>'s and OpenSSL's buffers and
/// a handful of cipher calls per record instead of a TLS record layer's (docs/performance.md, "The link's records").
/// <para>
/// One reader and one writer at a time, as for a socket; the two directions share only the socket. A record that
/// fails authentication, has a length out of range, or is cut off by the end of the connection fails the read with
/// an <see cref="IOException"/>: the session ends as if the connection had been lost.
/// </para>
/// </summary>
public sealed class SealedLinkStream : Stream
{
    /// <summary>The ALPN protocol id that agrees to switch to sealed records after the TLS handshake.</summary>
    public static readonly SslApplicationProtocol Protocol = new("warren-sealed/1");

    /// <summary>
    /// The ALPN list a link's TLS handshake offers (client) or accepts (server): <see cref="Protocol"/> when sealed
    /// records are allowed; none when the operator keeps the link on TLS (<c>sealed_records: false</c>), so the
    /// handshake agrees nothing and <see cref="SwitchIfAgreedAsync"/> stays on TLS.
    /// </summary>
    public static List<SslApplicationProtocol>? Offer(bool sealedRecords) => sealedRecords ? [Protocol] : null;

    internal const int HeaderSize = 4;
    internal const int TagSize = 16;
    /// <summary>Most plaintext bytes in one record: one session flush of 64 KiB.</summary>
    internal const int MaxPayload = 64 * 1024;
    internal const int MaxRecord = HeaderSize + MaxPayload + TagSize;
    private const int SecretSize = 32;
    /// <summary>
    /// Records per key and direction (64 GiB at most): then the key is replaced by one derived from it, well inside
    /// AES-GCM's usage limits, and old traffic cannot be decrypted with the new key.
    /// </summary>
    internal const ulong DefaultRekeyEvery = 1UL << 20;
    // A whole record and room for the next receive: after moving a partial record to the front, a receive can always
    // complete it.
    private const int InputSize = 128 * 1024;
    private const int OutputSize = 128 * 1024;

    private readonly Socket _socket;
    private readonly bool _ownsSocket;
    private readonly RecordCipher _sealer;
    private readonly RecordCipher _opener;

    // Received bytes not yet opened are _input[_inStart.._inEnd); an opened record whose plaintext did not fit the
    // caller's buffer waits in place at _input[_plainStart.._plainEnd), before _inStart. Rented while it holds bytes
    // or a receive is pending.
    private byte[]? _input;
    private int _inStart;
    private int _inEnd;
    private int _plainStart;
    private int _plainEnd;

    // Sealed records waiting for the next flush: rented while it holds any.
    private byte[]? _output;
    private int _outLength;

    private SealedLinkStream(Socket socket, bool ownsSocket, ReadOnlySpan<byte> readAhead, byte[] sendKey, byte[] receiveKey, ulong rekeyEvery)
    {
        _socket = socket;
        _ownsSocket = ownsSocket;
        _sealer = new RecordCipher(sendKey, rekeyEvery);
        _opener = new RecordCipher(receiveKey, rekeyEvery);
        if (!readAhead.IsEmpty)
        {
            _input = ArrayPool<byte>.Shared.Rent(InputSize);
            readAhead.CopyTo(_input);
            _inEnd = readAhead.Length;
        }
    }

    public Socket Socket => _socket;

    /// <summary>
    /// After a TLS handshake that offered <see cref="Protocol"/> (an agent's or an edge's link, either end): the sealed
    /// stream when the peer agreed, with <paramref name="tls"/> disposed and the socket passed on; otherwise
    /// <paramref name="tls"/> itself, for a peer from before sealed records.
    /// </summary>
    public static async Task<Stream> SwitchIfAgreedAsync(SslStream tls, LinkStream link, bool isClient, bool ownsSocket, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(tls);
        if (tls.NegotiatedApplicationProtocol != Protocol)
        {
            return tls;
        }
        var sealedLink = await StartAsync(tls, link, isClient, ownsSocket, cancellationToken).ConfigureAwait(false);
        await tls.DisposeAsync().ConfigureAwait(false); // it no longer touches the socket
        return sealedLink;
    }

    /// <summary>What a link runs on, for the logs of both ends: sealed records, TLS, or plain TCP.</summary>
    public static string Describe(Stream link) => link switch
    {
        SealedLinkStream => "sealed records",
        SslStream => "TLS",
        _ => "plain TCP",
    };

    /// <summary>
    /// After a TLS handshake that agreed <see cref="Protocol"/>: sends this side's secret and reads the peer's over
    /// <paramref name="tls"/>, derives the two directions' keys, and leaves TLS. The socket passes from
    /// <paramref name="link"/> to the returned stream (owned by it when <paramref name="ownsSocket"/>); the caller
    /// disposes <paramref name="tls"/>, which no longer touches the socket.
    /// </summary>
    public static async Task<SealedLinkStream> StartAsync(SslStream tls, LinkStream link, bool isClient, bool ownsSocket, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(tls);
        ArgumentNullException.ThrowIfNull(link);
        var mine = RandomNumberGenerator.GetBytes(SecretSize);
        var theirs = new byte[SecretSize];
        try
        {
            // Both sides write first: one small record each, so neither waits on the other.
            await tls.WriteAsync(mine, cancellationToken).ConfigureAwait(false);
            await tls.FlushAsync(cancellationToken).ConfigureAwait(false);
            await tls.ReadExactlyAsync(theirs, cancellationToken).ConfigureAwait(false);
            return LeaveTls(link, isClient, ownsSocket, mine, theirs);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(mine);
            CryptographicOperations.ZeroMemory(theirs);
        }
    }

    /// <summary>Once both secrets have crossed the TLS stream over <paramref name="link"/>: the keys, and the switch.</summary>
    internal static SealedLinkStream LeaveTls(LinkStream link, bool isClient, bool ownsSocket, ReadOnlySpan<byte> mine, ReadOnlySpan<byte> theirs)
    {
        var readAhead = link.LeaveTls();
        var (clientToServer, serverToClient) = DeriveKeys(isClient ? mine : theirs, isClient ? theirs : mine);
        return isClient
            ? new SealedLinkStream(link.Socket, ownsSocket, readAhead, clientToServer, serverToClient, DefaultRekeyEvery)
            : new SealedLinkStream(link.Socket, ownsSocket, readAhead, serverToClient, clientToServer, DefaultRekeyEvery);
    }

    /// <summary>For tests: two ends over a connected socket pair, with the given secrets and rekey interval.</summary>
    internal static (SealedLinkStream Client, SealedLinkStream Server) CreatePair(Socket client, Socket server, byte[] clientSecret, byte[] serverSecret, ulong rekeyEvery)
    {
        var (c2s, s2c) = DeriveKeys(clientSecret, serverSecret);
        // Each end's ciphers forget (zero) their own copy of a key.
        return (new SealedLinkStream(client, true, default, c2s, s2c, rekeyEvery),
            new SealedLinkStream(server, true, default, (byte[])s2c.Clone(), (byte[])c2s.Clone(), rekeyEvery));
    }

    /// <summary>HKDF-SHA-256 over both secrets, client's first; one key per direction (docs/protocol.md §1.1).</summary>
    internal static (byte[] ClientToServer, byte[] ServerToClient) DeriveKeys(ReadOnlySpan<byte> clientSecret, ReadOnlySpan<byte> serverSecret)
    {
        Span<byte> ikm = stackalloc byte[2 * SecretSize];
        Span<byte> prk = stackalloc byte[32];
        clientSecret.CopyTo(ikm);
        serverSecret.CopyTo(ikm[SecretSize..]);
        HKDF.Extract(HashAlgorithmName.SHA256, ikm, "warren sealed link v1"u8, prk);
        var clientToServer = new byte[32];
        var serverToClient = new byte[32];
        HKDF.Expand(HashAlgorithmName.SHA256, prk, clientToServer, "agent to edge"u8);
        HKDF.Expand(HashAlgorithmName.SHA256, prk, serverToClient, "edge to agent"u8);
        CryptographicOperations.ZeroMemory(ikm);
        CryptographicOperations.ZeroMemory(prk);
        return (clientToServer, serverToClient);
    }

    public override bool CanRead => true;
    public override bool CanWrite => true;
    public override bool CanSeek => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    /// <summary>
    /// Whether the next read can be served without waiting on the socket: plaintext of an opened record, or a whole
    /// record, is here. Reader side only.
    /// </summary>
    public bool HasWholeRecord
    {
        get
        {
            if (_plainEnd > _plainStart)
            {
                return true;
            }
            var available = _inEnd - _inStart;
            return available >= HeaderSize && available >= HeaderSize + (long)BinaryPrimitives.ReadUInt32BigEndian(_input.AsSpan(_inStart)) + TagSize;
        }
    }

    // ---------------------------------------------------------------- reading

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (_plainEnd > _plainStart)
        {
            return new ValueTask<int>(TakePlain(buffer.Span));
        }
        if (buffer.IsEmpty)
        {
            // A zero-byte read waits for data without taking any, as a socket's does; the receive that waits is the
            // one that reads, so no separate peek precedes it.
            return _inEnd > _inStart ? new ValueTask<int>(0) : ReceiveThenOpenAsync(buffer, cancellationToken);
        }
        var opened = Open(buffer.Span);
        return opened >= 0 ? new ValueTask<int>(opened) : ReceiveThenOpenAsync(buffer, cancellationToken);
    }

    private async ValueTask<int> ReceiveThenOpenAsync(Memory<byte> buffer, CancellationToken cancellationToken)
    {
        while (true)
        {
            var space = PrepareReceive();
            int n;
            try
            {
                n = await _socket.ReceiveAsync(space, SocketFlags.None, cancellationToken).ConfigureAwait(false);
            }
            catch (SocketException ex)
            {
                throw ReadFailed(ex);
            }
            if (Received(n) || buffer.IsEmpty)
            {
                return 0; // the end; or, for a zero-byte read, data is here
            }
            var opened = Open(buffer.Span);
            if (opened >= 0)
            {
                return opened;
            }
        }
    }

    public override int Read(Span<byte> buffer)
    {
        if (_plainEnd > _plainStart)
        {
            return TakePlain(buffer);
        }
        while (true)
        {
            if (!buffer.IsEmpty)
            {
                var opened = Open(buffer);
                if (opened >= 0)
                {
                    return opened;
                }
            }
            else if (_inEnd > _inStart)
            {
                return 0;
            }
            var space = PrepareReceive();
            int n;
            try
            {
                n = _socket.Receive(space.Span, SocketFlags.None);
            }
            catch (SocketException ex)
            {
                throw ReadFailed(ex);
            }
            if (Received(n) || buffer.IsEmpty)
            {
                return 0;
            }
        }
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    /// <summary>The free end of the receive buffer, after moving a partial record to its front when the end is short.</summary>
    private Memory<byte> PrepareReceive()
    {
        var input = _input ??= ArrayPool<byte>.Shared.Rent(InputSize);
        if (input.Length - _inEnd < MaxRecord)
        {
            var pending = _inEnd - _inStart;
            input.AsSpan(_inStart, pending).CopyTo(input);
            _inStart = 0;
            _inEnd = pending;
        }
        return input.AsMemory(_inEnd);
    }

    /// <summary>Counts <paramref name="n"/> received bytes; true at the end of the connection (an error inside a record).</summary>
    private bool Received(int n)
    {
        if (n > 0)
        {
            _inEnd += n;
            return false;
        }
        var cut = _inEnd > _inStart;
        ReturnInput();
        if (cut)
        {
            throw new IOException("The agent link ended inside a sealed record.");
        }
        return true;
    }

    /// <summary>
    /// Opens the records that are here whole: the first straight into <paramref name="destination"/> when its plaintext
    /// fits (else in place, handing out the first part), then as many more as fit after it, so that the session
    /// parses a batch of them in one pass. The bytes handed out; -1 when not even the first record is all here.
    /// </summary>
    private int Open(Span<byte> destination)
    {
        var total = OpenOne(destination, wholeOnly: false);
        if (total < 0 || _plainEnd > _plainStart)
        {
            return total;
        }
        while (total < destination.Length)
        {
            var next = OpenOne(destination[total..], wholeOnly: true);
            if (next < 0)
            {
                break;
            }
            total += next;
        }
        return total;
    }

    /// <summary>
    /// Opens the next record if it is here whole and, with <paramref name="wholeOnly"/>, fits
    /// <paramref name="destination"/>; -1 when it does not. A record larger than the destination is opened in place
    /// and handed out in parts.
    /// </summary>
    private int OpenOne(Span<byte> destination, bool wholeOnly)
    {
        var available = _inEnd - _inStart;
        if (available < HeaderSize)
        {
            return -1;
        }
        var record = _input.AsSpan(_inStart);
        var length = BinaryPrimitives.ReadUInt32BigEndian(record);
        if (length is 0 or > MaxPayload)
        {
            throw new IOException($"The agent link sent a sealed record of {length} bytes (1 to {MaxPayload}).");
        }
        var size = HeaderSize + (int)length + TagSize;
        var fits = destination.Length >= (int)length;
        if (available < size || (wholeOnly && !fits))
        {
            return -1;
        }
        var header = record[..HeaderSize];
        var ciphertext = record.Slice(HeaderSize, (int)length);
        var tag = record.Slice(HeaderSize + (int)length, TagSize);
        var plainStart = _inStart + HeaderSize;
        _inStart += size;
        if (fits)
        {
            _opener.Open(header, ciphertext, tag, destination[..(int)length]);
            ReleaseInputIfEmpty();
            return (int)length;
        }
        _opener.Open(header, ciphertext, tag, ciphertext); // in place; handed out in parts
        _plainStart = plainStart;
        _plainEnd = plainStart + (int)length;
        return TakePlain(destination);
    }

    private int TakePlain(Span<byte> destination)
    {
        var n = Math.Min(destination.Length, _plainEnd - _plainStart);
        _input.AsSpan(_plainStart, n).CopyTo(destination);
        _plainStart += n;
        if (_plainStart == _plainEnd)
        {
            _plainStart = _plainEnd = 0;
            ReleaseInputIfEmpty();
        }
        return n;
    }

    private void ReleaseInputIfEmpty()
    {
        if (_inStart == _inEnd && _plainEnd == _plainStart)
        {
            ReturnInput();
        }
    }

    private void ReturnInput()
    {
        if (_input is { } input)
        {
            _input = null;
            _inStart = _inEnd = _plainStart = _plainEnd = 0;
            ArrayPool<byte>.Shared.Return(input);
        }
    }

    // ---------------------------------------------------------------- writing

    /// <summary>Seals <paramref name="buffer"/> into records (64 KiB of plaintext at most each), sent at the next flush.</summary>
    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        while (!buffer.IsEmpty)
        {
            var chunk = Math.Min(buffer.Length, MaxPayload);
            if (_outLength + HeaderSize + chunk + TagSize > OutputSize)
            {
                return SendThenWriteAsync(buffer, cancellationToken);
            }
            Seal(buffer.Span[..chunk]);
            buffer = buffer[chunk..];
        }
        return ValueTask.CompletedTask;
    }

    private async ValueTask SendThenWriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken)
    {
        await SendOutputAsync(cancellationToken).ConfigureAwait(false);
        await WriteAsync(buffer, cancellationToken).ConfigureAwait(false);
    }

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        while (!buffer.IsEmpty)
        {
            var chunk = Math.Min(buffer.Length, MaxPayload);
            if (_outLength + HeaderSize + chunk + TagSize > OutputSize)
            {
                Flush();
            }
            Seal(buffer[..chunk]);
            buffer = buffer[chunk..];
        }
    }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    private void Seal(ReadOnlySpan<byte> plaintext)
    {
        var output = _output ??= ArrayPool<byte>.Shared.Rent(OutputSize);
        var record = output.AsSpan(_outLength, HeaderSize + plaintext.Length + TagSize);
        BinaryPrimitives.WriteUInt32BigEndian(record, (uint)plaintext.Length);
        _sealer.Seal(record[..HeaderSize], plaintext, record.Slice(HeaderSize, plaintext.Length), record[(HeaderSize + plaintext.Length)..]);
        _outLength += record.Length;
    }

    /// <summary>Sends the records sealed since the last flush, in one send when the socket takes them at once.</summary>
    public override Task FlushAsync(CancellationToken cancellationToken)
    {
        var send = SendOutputAsync(cancellationToken);
        return send.IsCompletedSuccessfully ? Task.CompletedTask : send.AsTask();
    }

    private ValueTask SendOutputAsync(CancellationToken cancellationToken)
    {
        if (_outLength == 0)
        {
            return ValueTask.CompletedTask;
        }
        var output = _output!;
        var length = _outLength;
        _output = null;
        _outLength = 0;
        ValueTask<int> send;
        try
        {
            send = _socket.SendAsync(output.AsMemory(0, length), SocketFlags.None, cancellationToken);
        }
        catch (SocketException ex)
        {
            ArrayPool<byte>.Shared.Return(output);
            throw WriteFailed(ex);
        }
        if (!send.IsCompletedSuccessfully)
        {
            return SendRestAsync(send.AsTask(), output, length, cancellationToken);
        }
        var sent = send.Result;
        if (sent == length)
        {
            ArrayPool<byte>.Shared.Return(output);
            return ValueTask.CompletedTask;
        }
        return SendRestAsync(Task.FromResult(sent), output, length, cancellationToken);
    }

    private async ValueTask SendRestAsync(Task<int> first, byte[] output, int length, CancellationToken cancellationToken)
    {
        try
        {
            var sent = await first.ConfigureAwait(false);
            while (sent < length)
            {
                sent += await _socket.SendAsync(output.AsMemory(sent, length - sent), SocketFlags.None, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (SocketException ex)
        {
            throw WriteFailed(ex);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(output);
        }
    }

    public override void Flush()
    {
        if (_outLength == 0)
        {
            return;
        }
        var output = _output!;
        var pending = output.AsSpan(0, _outLength);
        _output = null;
        _outLength = 0;
        try
        {
            while (!pending.IsEmpty)
            {
                pending = pending[_socket.Send(pending, SocketFlags.None)..];
            }
        }
        catch (SocketException ex)
        {
            throw WriteFailed(ex);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(output);
        }
    }

    // As NetworkStream does: the session expects an IOException when the connection fails.
    private static IOException ReadFailed(SocketException ex) => new($"Unable to read data from the transport connection: {ex.Message}.", ex);

    private static IOException WriteFailed(SocketException ex) => new($"Unable to write data to the transport connection: {ex.Message}.", ex);

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            if (_ownsSocket)
            {
                _socket.Dispose();
            }
            // The ciphers' handles are reference-counted, so a read or send still running on another thread finishes
            // first. The buffers are not returned here, for the same reason as LinkStream's.
            _sealer.Dispose();
            _opener.Dispose();
        }
        base.Dispose(disposing);
    }

    /// <summary>
    /// One direction's AES-256-GCM: the nonce is 4 zero bytes and the record's sequence number (u64 big-endian), so
    /// a record replayed, dropped, reordered or sent back to its sender fails authentication.
    /// </summary>
    private sealed class RecordCipher : IDisposable
    {
        private readonly ulong _rekeyEvery;
        private byte[] _key;
        private AesGcm _aes;
        private ulong _sequence;

        public RecordCipher(byte[] key, ulong rekeyEvery)
        {
            _key = key;
            _rekeyEvery = rekeyEvery;
            _aes = new AesGcm(key, TagSize);
        }

        public void Seal(ReadOnlySpan<byte> header, ReadOnlySpan<byte> plaintext, Span<byte> ciphertext, Span<byte> tag)
        {
            Span<byte> nonce = stackalloc byte[12];
            NextNonce(nonce);
            _aes.Encrypt(nonce, plaintext, ciphertext, tag, header);
        }

        public void Open(ReadOnlySpan<byte> header, ReadOnlySpan<byte> ciphertext, ReadOnlySpan<byte> tag, Span<byte> plaintext)
        {
            Span<byte> nonce = stackalloc byte[12];
            NextNonce(nonce);
            try
            {
                _aes.Decrypt(nonce, ciphertext, tag, plaintext, header);
            }
            catch (AuthenticationTagMismatchException)
            {
                CryptographicOperations.ZeroMemory(plaintext);
                throw new IOException("A sealed record from the agent link failed authentication.");
            }
        }

        private void NextNonce(Span<byte> nonce)
        {
            if (_sequence == ulong.MaxValue)
            {
                throw new IOException("The agent link's record sequence is exhausted.");
            }
            if (_sequence != 0 && _sequence % _rekeyEvery == 0)
            {
                Rekey();
            }
            nonce[..4].Clear();
            BinaryPrimitives.WriteUInt64BigEndian(nonce[4..], _sequence);
            _sequence++;
        }

        /// <summary>The next key is HKDF-Expand of the current one; the current one is forgotten.</summary>
        private void Rekey()
        {
            var next = new byte[32];
            HKDF.Expand(HashAlgorithmName.SHA256, _key, next, "warren sealed link next key"u8);
            CryptographicOperations.ZeroMemory(_key);
            _aes.Dispose();
            _key = next;
            _aes = new AesGcm(next, TagSize);
        }

        public void Dispose()
        {
            _aes.Dispose();
            CryptographicOperations.ZeroMemory(_key);
        }
    }
}
