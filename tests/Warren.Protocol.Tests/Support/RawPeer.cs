using System.Buffers;
using System.IO.Pipelines;
using Warren.Protocol.Framing;
using Warren.Protocol.Session;
using Warren.Protocol.Streams;

namespace Warren.Protocol.Tests.Support;

/// <summary>
/// A hand-written peer: it drives a real <see cref="MuxSession"/> over in-memory pipes by writing raw frames with
/// <see cref="FrameWriter"/> and reading the session's replies with <see cref="FrameReader"/> (Kestrel's
/// Http2TestBase does the same for HTTP/2). The session under test is the server (edge) unless told otherwise, so
/// this peer opens odd ids.
/// </summary>
internal sealed class RawPeer : IAsyncDisposable
{
    public const byte Version = FrameWriter.Version1;

    private readonly Pipe _toSession;
    private readonly Pipe _fromSession;

    private RawPeer(Pipe toSession, Pipe fromSession, MuxSession session)
    {
        _toSession = toSession;
        _fromSession = fromSession;
        Session = session;
    }

    public MuxSession Session { get; }

    /// <summary>What the peer writes; call <see cref="FlushAsync"/> to deliver it.</summary>
    public PipeWriter Output => _toSession.Writer;

    /// <summary>
    /// Starts a session of <paramref name="role"/> and completes the HELLO exchange by hand. <paramref name="sessionOutput"/>
    /// sets the pipe the session writes into (a small pause threshold makes its writes block while the peer does not read);
    /// <paramref name="wrapSessionOutput"/> puts a writer of the test's own in front of it.
    /// </summary>
    public static async Task<RawPeer> StartAsync(SessionOptions? options = null, SessionRole role = SessionRole.Server, PipeOptions? sessionOutput = null, SessionSettings? peerSettings = null,
        Microsoft.Extensions.Logging.ILogger? logger = null, Func<PipeWriter, PipeWriter>? wrapSessionOutput = null)
    {
        var toSession = new Pipe(new PipeOptions(useSynchronizationContext: false, pauseWriterThreshold: 0));
        var fromSession = new Pipe(sessionOutput ?? new PipeOptions(useSynchronizationContext: false, pauseWriterThreshold: 0));
        FrameWriter.WriteHello(toSession.Writer, new Hello(Version, Version, peerSettings ?? SessionSettings.ProtocolDefaults));
        await toSession.Writer.FlushAsync();
        var output = wrapSessionOutput is null ? fromSession.Writer : wrapSessionOutput(fromSession.Writer);
        var start = MuxSession.StartAsync(new DuplexPipe(toSession.Reader, output), role, options, logger, name: "under-test");
        var peer = new RawPeer(toSession, fromSession, await start.Within());
        var hello = await peer.ReadFrameAsync();
        Assert.Equal(FrameType.Hello, hello?.Header.Type);
        return peer;
    }

    public async Task FlushAsync() => await _toSession.Writer.FlushAsync();

    /// <summary>Writes with <paramref name="write"/> and delivers it at once.</summary>
    public async Task SendAsync(Action<IBufferWriter<byte>> write)
    {
        write(_toSession.Writer);
        await FlushAsync();
    }

    public Task SendRawAsync(params byte[] bytes) => SendAsync(w => w.Write(bytes));

    /// <summary>Writes a 12-byte header with any field values, then <paramref name="payload"/>.</summary>
    public Task SendFrameAsync(FrameType type, uint streamId, byte[] payload, FrameFlags flags = FrameFlags.None, byte version = Version) =>
        SendAsync(w =>
        {
            var span = w.GetSpan(FrameHeader.Size);
            new FrameHeader(version, type, flags, streamId, (uint)payload.Length).Write(span);
            w.Advance(FrameHeader.Size);
            w.Write(payload);
        });

    /// <summary>Stops sending: the session sees the end of its input.</summary>
    public Task CompleteAsync() => _toSession.Writer.CompleteAsync().AsTask();

    /// <summary>The next frame the session sent, or null once the session ended its output.</summary>
    public async Task<RawFrame?> ReadFrameAsync()
    {
        var reader = _fromSession.Reader;
        while (true)
        {
            var result = await reader.ReadAsync().AsTask().Within();
            var buffer = result.Buffer;
            if (FrameReader.TryReadFrame(ref buffer, RawFrame.PermissiveLimits, out var header, out var payload))
            {
                var frame = RawFrame.From(header, payload);
                reader.AdvanceTo(buffer.Start);
                return frame;
            }
            reader.AdvanceTo(buffer.Start, buffer.End);
            if (result.IsCompleted)
            {
                return null;
            }
        }
    }

    /// <summary>Reads frames until one matches <paramref name="match"/>; fails if the session ends its output first.</summary>
    public async Task<RawFrame> ReadUntilAsync(Func<RawFrame, bool> match, string what)
    {
        while (true)
        {
            var frame = await ReadFrameAsync() ?? throw new Xunit.Sdk.XunitException($"the session ended its output without sending {what}");
            if (match(frame))
            {
                return frame;
            }
        }
    }

    public Task<RawFrame> ReadGoAwayAsync() => ReadUntilAsync(f => f.Header.Type == FrameType.GoAway, "a GOAWAY");

    /// <summary>Opens stream <paramref name="id"/> on the session under test and waits until its application sees it.</summary>
    public async Task<MuxStream> OpenAndAcceptAsync(uint id, byte[]? metadata = null)
    {
        await SendAsync(w => FrameWriter.WriteOpen(w, Version, id, metadata ?? [], fin: false));
        var stream = await Session.AcceptStreamAsync().Within();
        Assert.Equal(id, stream.Id);
        stream.Accept();
        await ReadUntilAsync(f => f.Header.Type == FrameType.Accept && f.Header.StreamId == id, $"ACCEPT for stream {id}");
        return stream;
    }

    public async ValueTask DisposeAsync()
    {
        await Session.DisposeAsync().AsTask().Within();
        await _toSession.Writer.CompleteAsync();
        await _fromSession.Reader.CompleteAsync();
    }
}
