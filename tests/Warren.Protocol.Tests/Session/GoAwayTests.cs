using System.Security.Cryptography;
using Warren.Protocol.Framing;
using Warren.Protocol.Session;
using Warren.Protocol.Tests.Support;

namespace Warren.Protocol.Tests.Session;

/// <summary>Graceful drain and immediate close (docs/protocol.md §8; RELIABILITY.md (a) A8, C3, C4).</summary>
public sealed class GoAwayTests
{
    [Theory]
    [MemberData(nameof(SessionPair.Matrix), MemberType = typeof(SessionPair))]
    public async Task GoAway_WithStreamInFlight_RefusesNewOpensFinishesStreamAndClosesNoError(TransportKind transport, SessionRole opener)
    {
        await using var pair = await SessionPair.StartAsync(transport);
        var drainer = pair.Acceptor(opener);
        var echo = new AcceptLoop(drainer, AcceptLoop.EchoAsync);
        var stream = await pair.Opener(opener).OpenStreamAsync(Array.Empty<byte>()).Within();
        var first = RandomNumberGenerator.GetBytes(50_000);
        await stream.WriteAsync(first).AsTask().Within();

        drainer.GoAway("maintenance");
        await Wait.UntilAsync(() => pair.Opener(opener).IsGoingAway, "the opener saw the GOAWAY");

        // No new streams either way: a distinct error, so a caller can retry on another session.
        var refused = await Assert.ThrowsAsync<SessionClosedException>(() => pair.Opener(opener).OpenStreamAsync(Array.Empty<byte>()).AsTask());
        Assert.Equal(ErrorCode.NoError, refused.Code);
        await Assert.ThrowsAsync<SessionClosedException>(() => drainer.OpenStreamAsync(Array.Empty<byte>()).AsTask());

        // The stream already open finishes, both directions.
        var second = RandomNumberGenerator.GetBytes(700_000);
        var echoed = AcceptLoop.ReadAllAsync(stream);
        await stream.WriteAsync(second).AsTask().Within();
        stream.CompleteWrites();
        Assert.Equal(SHA256.HashData([.. first, .. second]), SHA256.HashData(await echoed.Within()));
        await stream.DisposeAsync();

        var drained = await drainer.Completion.Within();
        var peer = await pair.Opener(opener).Completion.Within();
        Assert.Equal(ErrorCode.NoError, drained.Code);
        Assert.Equal(ErrorCode.NoError, peer.Code);
        await echo.Loop.Within();
        await echo.HandlersAsync();
    }

    [Theory]
    [MemberData(nameof(SessionPair.Matrix), MemberType = typeof(SessionPair))]
    public async Task Abort_WithError_PeerClosesAtOnceAndStreamsFail(TransportKind transport, SessionRole opener)
    {
        await using var pair = await SessionPair.StartAsync(transport);
        var accepted = Task.Run(async () =>
        {
            var s = await pair.Acceptor(opener).AcceptStreamAsync();
            s.Accept();
            return s;
        });
        var stream = await pair.Opener(opener).OpenStreamAsync(Array.Empty<byte>()).Within();
        var remote = await accepted.Within();

        pair.Acceptor(opener).Abort(ErrorCode.InternalError, "shutting down hard");

        var info = await pair.Opener(opener).Completion.Within();
        Assert.Equal(ErrorCode.InternalError, info.Code);
        Assert.True(info.ByPeer);
        Assert.Equal("shutting down hard", info.Reason);
        var error = await Assert.ThrowsAsync<SessionClosedException>(() => stream.ReadAsync(new byte[1]).AsTask()).Within();
        Assert.Equal(ErrorCode.InternalError, error.Code);
        await Assert.ThrowsAsync<SessionClosedException>(() => remote.ReadAsync(new byte[1]).AsTask()).Within();
        await Assert.ThrowsAsync<SessionClosedException>(() => pair.Opener(opener).OpenStreamAsync(Array.Empty<byte>()).AsTask());
        Assert.Equal(0, pair.Opener(opener).StreamCount);
    }

    [Fact]
    public async Task GoAway_OpensRefusedMeanwhile_ReachThePeerAfterTheGoAway()
    {
        // An OPEN refused because this side is going away is safe to open again elsewhere only if the peer can tell:
        // its RST must follow the GOAWAY on the wire. The hook holds GoAway() inside its log line (after the session
        // has started refusing) while an OPEN arrives and is refused; before the fix the GOAWAY was queued only after
        // that line, so the refusal went out first and an agent's restart reset an ssh login in flight.
        using var held = new ManualResetEventSlim();
        var logger = new HoldingLogger("GoingAway", held);
        await using var peer = await RawPeer.StartAsync(logger: logger);
        var goingAway = Task.Run(() => peer.Session.GoAway("agent shutting down"));
        Assert.True(logger.Entered.Wait(TimeSpan.FromSeconds(30)), "GoAway logged");

        await peer.SendAsync(w => FrameWriter.WriteOpen(w, RawPeer.Version, 1, [], fin: false));
        await Wait.UntilAsync(() => peer.Session.Counters.StreamsRefused == 1, "the OPEN was refused");
        held.Set();
        await goingAway.Within();

        var first = await peer.ReadUntilAsync(f => f.Header.Type is FrameType.GoAway or FrameType.Reset, "a GOAWAY or an RST");
        Assert.Equal(FrameType.GoAway, first.Header.Type);
        var refusal = await peer.ReadUntilAsync(f => f.Header.Type == FrameType.Reset, "the refusal");
        Assert.Equal(1u, refusal.Header.StreamId);
        Assert.Equal(ErrorCode.RefusedStream, refusal.ResetCode);
    }

    /// <summary>Blocks the thread that logs <paramref name="eventName"/> until <paramref name="release"/> is set.</summary>
    private sealed class HoldingLogger(string eventName, ManualResetEventSlim release) : Microsoft.Extensions.Logging.ILogger
    {
        public ManualResetEventSlim Entered { get; } = new();

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(Microsoft.Extensions.Logging.LogLevel logLevel) => true;

        public void Log<TState>(Microsoft.Extensions.Logging.LogLevel logLevel, Microsoft.Extensions.Logging.EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (eventId.Name == eventName)
            {
                Entered.Set();
                release.Wait(TimeSpan.FromSeconds(30));
            }
        }
    }

    [Fact]
    public async Task Dispose_CalledTwiceAndConcurrently_IsSafe()
    {
        await using var pair = await SessionPair.StartAsync(TransportKind.InMemory);
        await Task.WhenAll(pair.Client.DisposeAsync().AsTask(), pair.Client.DisposeAsync().AsTask(), Task.Run(() => pair.Client.GoAway())).Within();
        Assert.Equal(ErrorCode.NoError, (await pair.Client.Completion).Code);
        await pair.Server.Completion.Within();
    }
}
