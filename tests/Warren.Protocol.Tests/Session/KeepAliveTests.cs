using System.IO.Pipelines;
using Warren.Protocol.Framing;
using Warren.Protocol.Session;
using Warren.Protocol.Tests.Support;

namespace Warren.Protocol.Tests.Session;

/// <summary>Dead peers and wedged transports (docs/protocol.md §8; RELIABILITY.md (a) C1; yamux TestKeepAlive_Timeout).</summary>
public sealed class KeepAliveTests
{
    private static SessionOptions Short() => new()
    {
        KeepAliveInterval = TimeSpan.FromMilliseconds(100),
        KeepAliveTimeout = TimeSpan.FromMilliseconds(500),
    };

    [Fact]
    public async Task SilentPeer_AfterHello_KeepAliveTimeoutFailsEveryStream()
    {
        // The raw peer sends a valid HELLO, opens one stream, then never answers anything (not even PINGs).
        await using var peer = await RawPeer.StartAsync(Short());
        var accepted = await peer.OpenAndAcceptAsync(1);
        var blockedWrite = accepted.WriteAsync(new byte[2 * peer.Session.Options.InitialStreamWindow]).AsTask();
        var pendingOpen = peer.Session.OpenStreamAsync(Array.Empty<byte>()).AsTask();

        var info = await peer.Session.Completion.Within();
        Assert.Equal(ErrorCode.KeepAliveTimeout, info.Code);
        Assert.False(info.ByPeer);
        var goAway = await peer.ReadGoAwayAsync();
        Assert.Equal(ErrorCode.KeepAliveTimeout, goAway.GoAwayCode);

        Assert.Equal(ErrorCode.KeepAliveTimeout, (await Assert.ThrowsAsync<SessionClosedException>(() => accepted.ReadAsync(new byte[1]).AsTask())).Code);
        Assert.Equal(ErrorCode.KeepAliveTimeout, (await Assert.ThrowsAsync<SessionClosedException>(() => blockedWrite).Within()).Code);
        Assert.Equal(ErrorCode.KeepAliveTimeout, (await Assert.ThrowsAsync<SessionClosedException>(() => pendingOpen).Within()).Code);
        await Assert.ThrowsAsync<SessionClosedException>(() => peer.Session.OpenStreamAsync(Array.Empty<byte>()).AsTask());
        Assert.Equal(0, peer.Session.StreamCount);
    }

    [Fact]
    public async Task IdleSessions_WithShortKeepAliveInterval_ExchangePingsAndStayOpen()
    {
        // Interval 100 ms, but a timeout loose enough that a thread pool starved by parallel tests cannot kill a live peer.
        SessionOptions Options() => new() { KeepAliveInterval = TimeSpan.FromMilliseconds(100), KeepAliveTimeout = TimeSpan.FromSeconds(5) };
        await using var pair = await SessionPair.StartAsync(TransportKind.InMemory, Options(), Options());
        var before = pair.Client.Counters.FramesReceived;
        await Wait.UntilAsync(() => pair.Client.Counters.FramesReceived >= before + 20 || pair.Client.Completion.IsCompleted || pair.Server.Completion.IsCompleted,
            "20 more frames (PINGs and ACKs) arrived or a session ended");
        Assert.False(pair.Client.Completion.IsCompleted, $"the client ended: {(pair.Client.Completion.IsCompleted ? await pair.Client.Completion : null)}");
        Assert.False(pair.Server.Completion.IsCompleted, $"the server ended: {(pair.Server.Completion.IsCompleted ? await pair.Server.Completion : null)}");
        Assert.True(pair.Client.SmoothedRtt > TimeSpan.Zero);
    }

    [Fact]
    public async Task BlockedWrite_OverWriteTimeout_ClosesSession()
    {
        // The session's output pipe holds 1 KiB: room for the handshake, PINGs and the ACCEPT, so nothing blocks
        // before the stream's data does; the peer never reads that, so the flush never completes.
        var options = new SessionOptions { WriteTimeout = TimeSpan.FromMilliseconds(300), KeepAliveTimeout = TimeSpan.FromSeconds(60) };
        await using var peer = await RawPeer.StartAsync(options, sessionOutput: new PipeOptions(pauseWriterThreshold: 1024, resumeWriterThreshold: 512, useSynchronizationContext: false));
        var stream = await peer.OpenAndAcceptAsync(1);
        // Larger than the window: the part beyond it is still waiting for credit when the session dies.
        var write = stream.WriteAsync(new byte[4 * options.InitialStreamWindow]).AsTask();

        var info = await peer.Session.Completion.Within();
        Assert.Equal(ErrorCode.KeepAliveTimeout, info.Code);
        Assert.Contains("blocked", info.Reason, StringComparison.Ordinal);
        await Assert.ThrowsAsync<SessionClosedException>(() => write).Within();
    }
}
