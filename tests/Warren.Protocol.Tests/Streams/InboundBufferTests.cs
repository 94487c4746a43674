using Warren.Protocol.Session;
using Warren.Protocol.Streams;
using Warren.Protocol.Tests.Support;

namespace Warren.Protocol.Tests.Streams;

/// <summary>
/// The inbound-buffer gauge (warren_edge/agent_inbound_buffered_bytes) counts bytes received and not yet read or
/// discarded, so a soak run can tell that buffers return to baseline (RELIABILITY.md (a) E3).
/// </summary>
public sealed class InboundBufferTests
{
    [Theory]
    [MemberData(nameof(SessionPair.Matrix), MemberType = typeof(SessionPair))]
    public async Task Buffered_GrowsOnArrival_ShrinksOnRead_ZeroAfterDisposeWithUnreadBytes(TransportKind transport, SessionRole opener)
    {
        await using var pair = await SessionPair.StartAsync(transport);
        var accepted = new TaskCompletionSource<MuxStream>(TaskCreationOptions.RunContinuationsAsynchronously);
        _ = new AcceptLoop(pair.Acceptor(opener), stream =>
        {
            accepted.SetResult(stream);
            return Task.CompletedTask;
        });
        await using var sender = await pair.Opener(opener).OpenStreamAsync(new byte[] { 1 });
        await sender.WriteAsync(new byte[10_000]).AsTask().Within();
        var receiver = await accepted.Task.Within();
        await Wait.UntilAsync(() => receiver.InboundBuffered == 10_000, "all 10,000 bytes are buffered at the receiver");
        Assert.True(MuxStream.InboundBufferedBytes >= 10_000);

        var read = 0;
        var buffer = new byte[4_000];
        while (read < 4_000)
        {
            read += await receiver.ReadAsync(buffer.AsMemory(read)).Within();
        }
        Assert.Equal(6_000, receiver.InboundBuffered);

        await sender.WriteAsync(new byte[500]).AsTask().Within();
        await Wait.UntilAsync(() => receiver.InboundBuffered == 6_500, "the next 500 bytes are buffered");
        await receiver.DisposeAsync(); // 6,500 bytes never read: discarded with the stream
        Assert.Equal(0, receiver.InboundBuffered);
    }
}
