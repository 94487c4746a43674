using System.Buffers.Binary;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Text;

namespace Warren.SecurityTests.Harness;

/// <summary>
/// HTTP/2 written by hand over TLS (RFC 9113 frames, RFC 7541 HPACK without Huffman), for the floods no well-behaved
/// client sends: rapid reset, CONTINUATION floods, HPACK bombs. A reader loop answers the server's SETTINGS and
/// PING, and records what matters to the tests: responses per stream, resets, GOAWAY, and whether the server closed.
/// </summary>
internal sealed class RawHttp2 : IAsyncDisposable
{
    public const byte Data = 0, Headers = 1, RstStream = 3, Settings = 4, Ping = 6, GoAway = 7, WindowUpdate = 8, Continuation = 9;
    public const byte EndStream = 0x1, EndHeaders = 0x4, Ack = 0x1;
    public const uint Cancel = 0x8, EnhanceYourCalm = 0xb;

    private static readonly byte[] Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"u8.ToArray();
    private readonly Socket _socket;
    private readonly SslStream _tls;
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private readonly TaskCompletionSource _closed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _settled = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Task _reader;
    private long _bytesWritten;
    private int _responses;
    private int _resets;
    private int _calmResets;

    private RawHttp2(Socket socket, SslStream tls)
    {
        _socket = socket;
        _tls = tls;
        _reader = Task.Run(ReadLoopAsync);
    }

    /// <summary>Response HEADERS received (any status).</summary>
    public int Responses => Volatile.Read(ref _responses);

    /// <summary>RST_STREAM frames received, and those with ENHANCE_YOUR_CALM.</summary>
    public (int All, int EnhanceYourCalm) Resets => (Volatile.Read(ref _resets), Volatile.Read(ref _calmResets));

    /// <summary>The error code of the server's GOAWAY, once one arrived.</summary>
    public uint? GoAwayCode { get; private set; }

    /// <summary>Completes when the server closed the connection (or the read side failed).</summary>
    public Task Closed => _closed.Task;

    public long BytesWritten => Interlocked.Read(ref _bytesWritten);

    /// <summary>
    /// TLS (pinned to <paramref name="certificate"/>) with ALPN h2 and SNI <paramref name="host"/> to the HTTPS port
    /// <paramref name="port"/>, the preface, and an empty SETTINGS.
    /// </summary>
    public static async Task<RawHttp2> ConnectAsync(int port, SelfSignedCertificate certificate, string host, CancellationToken cancellationToken)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(IPAddress.Loopback, port, cancellationToken);
            var tls = new SslStream(new NetworkStream(socket, ownsSocket: false));
            await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
            {
                TargetHost = host,
                ApplicationProtocols = [SslApplicationProtocol.Http2],
                RemoteCertificateValidationCallback = (_, presented, _, _) => certificate.Matches(presented),
            }, cancellationToken);
            Assert.Equal(SslApplicationProtocol.Http2, tls.NegotiatedApplicationProtocol);
            await tls.WriteAsync(Preface, cancellationToken);
            var client = new RawHttp2(socket, tls);
            await client.WriteFrameAsync(Settings, 0, 0, Array.Empty<byte>(), cancellationToken);
            // The server's SETTINGS is answered before any attack starts: an ACK written in the middle of a header
            // block would be a protocol error of our own making.
            await client._settled.Task.WaitAsync(cancellationToken);
            return client;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>Writes one frame; false when the server has closed the connection.</summary>
    public Task<bool> WriteFrameAsync(byte type, byte flags, int streamId, ReadOnlyMemory<byte> payload, CancellationToken cancellationToken) =>
        WriteAsync(Frame(type, flags, streamId, payload.Span), cancellationToken);

    /// <summary>Writes bytes already framed (many frames in one write); false when the server has closed the connection.</summary>
    public async Task<bool> WriteAsync(byte[] frames, CancellationToken cancellationToken)
    {
        await _writeLock.WaitAsync(cancellationToken);
        try
        {
            await _tls.WriteAsync(frames, cancellationToken);
            Interlocked.Add(ref _bytesWritten, frames.Length);
            return true;
        }
        catch (IOException)
        {
            return false;
        }
        catch (ObjectDisposedException)
        {
            return false;
        }
        finally
        {
            _writeLock.Release();
        }
    }

    public static byte[] Frame(byte type, byte flags, int streamId, ReadOnlySpan<byte> payload)
    {
        var frame = new byte[9 + payload.Length];
        frame[0] = (byte)(payload.Length >> 16);
        frame[1] = (byte)(payload.Length >> 8);
        frame[2] = (byte)payload.Length;
        frame[3] = type;
        frame[4] = flags;
        BinaryPrimitives.WriteInt32BigEndian(frame.AsSpan(5), streamId & int.MaxValue);
        payload.CopyTo(frame.AsSpan(9));
        return frame;
    }

    public static byte[] RstStreamPayload(uint code)
    {
        var payload = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(payload, code);
        return payload;
    }

    /// <summary>An HPACK block for a GET of <paramref name="path"/> on <paramref name="authority"/> (indexed pseudo-headers, literals otherwise).</summary>
    public static byte[] RequestHeaders(string path, string authority)
    {
        var block = new List<byte> { 0x82, 0x87 }; // :method GET, :scheme https (RFC 7541 Appendix A)
        LiteralIndexedName(block, 4, path); // :path
        LiteralIndexedName(block, 1, authority); // :authority
        return [.. block];
    }

    /// <summary>Literal header field without indexing, new name (RFC 7541 §6.2.2).</summary>
    public static byte[] Literal(string name, string value)
    {
        var block = new List<byte> { 0x00 };
        String(block, name);
        String(block, value);
        return [.. block];
    }

    /// <summary>Literal header field with incremental indexing, new name (RFC 7541 §6.2.1): the entry goes into the dynamic table.</summary>
    public static byte[] LiteralIndexed(string name, string value)
    {
        var block = new List<byte> { 0x40 };
        String(block, name);
        String(block, value);
        return [.. block];
    }

    /// <summary>An indexed header field (RFC 7541 §6.1); 62 is the newest dynamic table entry.</summary>
    public static byte[] Indexed(int index)
    {
        var block = new List<byte>();
        Integer(block, 0x80, 7, index);
        return [.. block];
    }

    /// <summary>A dynamic table size update (RFC 7541 §6.3).</summary>
    public static byte[] TableSizeUpdate(int size)
    {
        var block = new List<byte>();
        Integer(block, 0x20, 5, size);
        return [.. block];
    }

    private static void LiteralIndexedName(List<byte> block, int index, string value)
    {
        Integer(block, 0x00, 4, index);
        String(block, value);
    }

    private static void String(List<byte> block, string value)
    {
        var bytes = Encoding.ASCII.GetBytes(value);
        Integer(block, 0x00, 7, bytes.Length);
        block.AddRange(bytes);
    }

    private static void Integer(List<byte> block, byte prefix, int bits, int value)
    {
        var max = (1 << bits) - 1;
        if (value < max)
        {
            block.Add((byte)(prefix | value));
            return;
        }
        block.Add((byte)(prefix | max));
        value -= max;
        while (value >= 128)
        {
            block.Add((byte)(value % 128 + 128));
            value /= 128;
        }
        block.Add((byte)value);
    }

    private async Task ReadLoopAsync()
    {
        var header = new byte[9];
        try
        {
            while (true)
            {
                await _tls.ReadExactlyAsync(header);
                var length = (header[0] << 16) | (header[1] << 8) | header[2];
                var type = header[3];
                var flags = header[4];
                var payload = new byte[length];
                await _tls.ReadExactlyAsync(payload);
                switch (type)
                {
                    case Headers:
                        Interlocked.Increment(ref _responses);
                        break;
                    case RstStream:
                        Interlocked.Increment(ref _resets);
                        if (BinaryPrimitives.ReadUInt32BigEndian(payload) == EnhanceYourCalm)
                        {
                            Interlocked.Increment(ref _calmResets);
                        }
                        break;
                    case Settings when (flags & Ack) == 0:
                        await WriteFrameAsync(Settings, Ack, 0, Array.Empty<byte>(), CancellationToken.None);
                        _settled.TrySetResult();
                        break;
                    case Ping when (flags & Ack) == 0:
                        await WriteFrameAsync(Ping, Ack, 0, payload, CancellationToken.None);
                        break;
                    case GoAway:
                        GoAwayCode = BinaryPrimitives.ReadUInt32BigEndian(payload.AsSpan(4));
                        break;
                }
            }
        }
        catch (Exception ex) when (ex is IOException or EndOfStreamException or ObjectDisposedException)
        {
            _closed.TrySetResult();
            _settled.TrySetResult();
        }
    }

    public async ValueTask DisposeAsync()
    {
        _socket.Dispose();
        await _tls.DisposeAsync();
        await _reader.WaitAsync(TimeSpan.FromSeconds(10));
        _writeLock.Dispose();
    }
}
