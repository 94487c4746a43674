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
    public async Task Dispose_CalledTwiceAndConcurrently_IsSafe()
    {
        await using var pair = await SessionPair.StartAsync(TransportKind.InMemory);
        await Task.WhenAll(pair.Client.DisposeAsync().AsTask(), pair.Client.DisposeAsync().AsTask(), Task.Run(() => pair.Client.GoAway())).Within();
        Assert.Equal(ErrorCode.NoError, (await pair.Client.Completion).Code);
        await pair.Server.Completion.Within();
    }
}
