using Warren.Protocol.Session;
using Warren.Protocol.Tests.Support;

namespace Warren.Protocol.Tests.Session;

/// <summary>
/// A producer writing close behind the previous inline flush leaves its flush to the writer loop
/// (SessionOptions.CoalesceWithin; docs/protocol.md §1). With a window far longer than a round trip, every write after
/// the first is left to the loop: a loop that did not flush it would stall these exchanges.
/// </summary>
public sealed class WriteCoalescingTests
{
    [Theory]
    [MemberData(nameof(SessionPair.Matrix), MemberType = typeof(SessionPair))]
    public async Task Writes_left_to_the_writer_loop_arrive_one_exchange_after_another(TransportKind transport, SessionRole opener)
    {
        var options = new SessionOptions { CoalesceWithin = TimeSpan.FromMilliseconds(10) };
        await using var pair = await SessionPair.StartAsync(transport, options, new SessionOptions { CoalesceWithin = TimeSpan.FromMilliseconds(10) });
        var echo = new AcceptLoop(pair.Acceptor(opener), AcceptLoop.EchoAsync);
        await using var stream = await pair.Opener(opener).OpenStreamAsync(Array.Empty<byte>()).Within();
        var buffer = new byte[16];
        for (var i = 0; i < 200; i++)
        {
            // Each write follows the last inline flush by one round trip, well inside the window.
            var message = BitConverter.GetBytes(i);
            await stream.WriteAsync(message).AsTask().Within();
            var read = 0;
            while (read < message.Length)
            {
                var n = await stream.ReadAsync(buffer.AsMemory(read, message.Length - read)).AsTask().Within();
                Assert.NotEqual(0, n);
                read += n;
            }
            Assert.Equal(i, BitConverter.ToInt32(buffer));
        }
        stream.CompleteWrites();
        Assert.Equal(0, await stream.ReadAsync(buffer).AsTask().Within());
        await echo.HandlersAsync();
    }

    [Fact]
    public void CoalesceWithin_outside_0_to_10_ms_is_refused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new SessionOptions { CoalesceWithin = TimeSpan.FromMilliseconds(11) }.Validate());
        Assert.Throws<ArgumentOutOfRangeException>(() => new SessionOptions { CoalesceWithin = TimeSpan.FromTicks(-1) }.Validate());
        new SessionOptions { CoalesceWithin = TimeSpan.Zero }.Validate();
    }
}
