using System.Security.Cryptography;
using Warren.Protocol.Framing;
using Warren.Protocol.Session;
using Warren.Protocol.Streams;
using Warren.Protocol.Tests.Support;

namespace Warren.Protocol.Tests.Streams;

/// <summary>Half-close (FIN) and reset (RST) in each direction (RELIABILITY.md (a) A9, A10; yamux TestHalfClose).</summary>
public sealed class HalfCloseAndResetTests
{
    /// <summary>Opens one stream and returns both ends: the opener's and the acceptor's.</summary>
    private static async Task<(MuxStream Opened, MuxStream Accepted)> OpenPairAsync(SessionPair pair, SessionRole opener)
    {
        var accept = Task.Run(async () =>
        {
            var stream = await pair.Acceptor(opener).AcceptStreamAsync();
            stream.Accept();
            return stream;
        });
        var opened = await pair.Opener(opener).OpenStreamAsync("half-close"u8.ToArray()).Within();
        return (opened, await accept.Within());
    }

    /// <summary>
    /// <paramref name="first"/> sends its bytes and FIN; <paramref name="second"/> reads them to EOF and only then
    /// sends several writes of its own, which must all arrive, followed by EOF.
    /// </summary>
    private static async Task AssertHalfCloseAsync(MuxStream first, MuxStream second)
    {
        var request = RandomNumberGenerator.GetBytes(100_000);
        await first.WriteAsync(request).AsTask().Within();
        first.CompleteWrites();
        Assert.Equal(request, await AcceptLoop.ReadAllAsync(second).Within());

        // The direction still open keeps flowing, well past one window.
        var response = RandomNumberGenerator.GetBytes(3 * 256 * 1024 + 17);
        var read = AcceptLoop.ReadAllAsync(first);
        for (var offset = 0; offset < response.Length; offset += 100_000)
        {
            await second.WriteAsync(response.AsMemory(offset, Math.Min(100_000, response.Length - offset))).AsTask().Within();
        }
        second.CompleteWrites();
        Assert.Equal(SHA256.HashData(response), SHA256.HashData(await read.Within()));
        await Assert.ThrowsAsync<InvalidOperationException>(() => first.WriteAsync(new byte[1]).AsTask());
    }

    [Theory]
    [MemberData(nameof(SessionPair.Matrix), MemberType = typeof(SessionPair))]
    public async Task HalfClose_OpenerFinishesFirst_OtherDirectionKeepsFlowingThenEof(TransportKind transport, SessionRole opener)
    {
        await using var pair = await SessionPair.StartAsync(transport);
        var (opened, accepted) = await OpenPairAsync(pair, opener);
        await AssertHalfCloseAsync(opened, accepted);
        await pair.WaitForNoStreamsAsync();
    }

    [Theory]
    [MemberData(nameof(SessionPair.Matrix), MemberType = typeof(SessionPair))]
    public async Task HalfClose_AcceptorFinishesFirst_OtherDirectionKeepsFlowingThenEof(TransportKind transport, SessionRole opener)
    {
        await using var pair = await SessionPair.StartAsync(transport);
        var (opened, accepted) = await OpenPairAsync(pair, opener);
        await AssertHalfCloseAsync(accepted, opened);
        await pair.WaitForNoStreamsAsync();
    }

    /// <summary><paramref name="resetter"/> resets mid-transfer; <paramref name="victim"/> sees the code, flagged as the peer's.</summary>
    private static async Task AssertResetAsync(MuxStream resetter, MuxStream victim, ErrorCode code)
    {
        await victim.WriteAsync(new byte[1000]).AsTask().Within();
        Assert.Equal(1000, (await ReadAtLeastAsync(resetter, 1000)).Length);
        // The victim has a write blocked on the window (nobody reads it) when the reset lands.
        var blocked = victim.WriteAsync(new byte[4 * 256 * 1024]).AsTask();
        resetter.Abort(code);

        var readError = await Assert.ThrowsAsync<StreamAbortedException>(() => victim.ReadAsync(new byte[10]).AsTask()).Within();
        Assert.Equal(code, readError.Code);
        Assert.True(readError.ByPeer);
        var writeError = await Assert.ThrowsAsync<StreamAbortedException>(() => blocked).Within();
        Assert.Equal(code, writeError.Code);
        Assert.True(writeError.ByPeer);
        Assert.Equal(code, victim.ResetCode);

        // Use after reset fails at once, on both ends, and aborting again is harmless.
        var local = await Assert.ThrowsAsync<StreamAbortedException>(() => resetter.WriteAsync(new byte[1]).AsTask());
        Assert.False(local.ByPeer);
        Assert.Equal(code, (await Assert.ThrowsAsync<StreamAbortedException>(() => victim.WriteAsync(new byte[1]).AsTask())).Code);
        resetter.Abort(ErrorCode.InternalError);
        Assert.Equal(code, resetter.ResetCode);
    }

    private static async Task<byte[]> ReadAtLeastAsync(MuxStream stream, int count)
    {
        var buffer = new byte[count];
        await stream.ReadExactlyAsync(buffer).AsTask().Within();
        return buffer;
    }

    [Theory]
    [MemberData(nameof(SessionPair.Matrix), MemberType = typeof(SessionPair))]
    public async Task Reset_ByOpener_AcceptorSeesStreamAbortedWithCode(TransportKind transport, SessionRole opener)
    {
        await using var pair = await SessionPair.StartAsync(transport);
        var (opened, accepted) = await OpenPairAsync(pair, opener);
        await AssertResetAsync(opened, accepted, ErrorCode.Cancel);
        await pair.WaitForNoStreamsAsync();
    }

    [Theory]
    [MemberData(nameof(SessionPair.Matrix), MemberType = typeof(SessionPair))]
    public async Task Reset_ByAcceptor_OpenerSeesStreamAbortedWithCode(TransportKind transport, SessionRole opener)
    {
        await using var pair = await SessionPair.StartAsync(transport);
        var (opened, accepted) = await OpenPairAsync(pair, opener);
        await AssertResetAsync(accepted, opened, ErrorCode.Overloaded);
        await pair.WaitForNoStreamsAsync();
    }

    [Theory]
    [MemberData(nameof(SessionPair.Matrix), MemberType = typeof(SessionPair))]
    public async Task Open_RefusedByAcceptor_OpenerSeesStreamAbortedWithCode(TransportKind transport, SessionRole opener)
    {
        await using var pair = await SessionPair.StartAsync(transport);
        var refuse = Task.Run(async () => (await pair.Acceptor(opener).AcceptStreamAsync()).Abort(ErrorCode.UnknownService));
        var error = await Assert.ThrowsAsync<StreamAbortedException>(() => pair.Opener(opener).OpenStreamAsync("nope"u8.ToArray()).AsTask()).Within();
        await refuse.Within();
        Assert.Equal(ErrorCode.UnknownService, error.Code);
        Assert.True(error.ByPeer);
        await pair.WaitForNoStreamsAsync();
    }

    [Theory]
    [MemberData(nameof(SessionPair.Matrix), MemberType = typeof(SessionPair))]
    public async Task Dispose_WhileReadWaits_ReadFailsAndPeerSeesReset(TransportKind transport, SessionRole opener)
    {
        // HttpClient cancels a read it has pending on a connection by disposing the connection: the read must end.
        await using var pair = await SessionPair.StartAsync(transport);
        var (opened, accepted) = await OpenPairAsync(pair, opener);
        var pending = opened.ReadAsync(new byte[16]).AsTask();
        Assert.False(pending.IsCompleted);
        await opened.DisposeAsync();
        await Assert.ThrowsAsync<ObjectDisposedException>(() => pending.Within());
        var error = await Assert.ThrowsAsync<StreamAbortedException>(() => accepted.ReadAsync(new byte[16]).AsTask().Within());
        Assert.True(error.ByPeer);
    }

    [Theory]
    [MemberData(nameof(SessionPair.Matrix), MemberType = typeof(SessionPair))]
    public async Task Read_Cancelled_WhileWaiting_ThrowsAndNextReadGetsData(TransportKind transport, SessionRole opener)
    {
        await using var pair = await SessionPair.StartAsync(transport);
        var (opened, accepted) = await OpenPairAsync(pair, opener);
        using (var cancel = new CancellationTokenSource())
        {
            var pending = opened.ReadAsync(new byte[16], cancel.Token).AsTask();
            cancel.Cancel();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => pending.Within());
        }
        await accepted.WriteAsync("after"u8.ToArray()).AsTask().Within();
        var buffer = new byte[16];
        var n = await opened.ReadAsync(buffer).AsTask().Within();
        Assert.Equal("after", System.Text.Encoding.ASCII.GetString(buffer, 0, n));
    }
}
