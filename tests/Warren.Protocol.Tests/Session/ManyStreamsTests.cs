using System.Collections.Concurrent;
using System.Security.Cryptography;
using Warren.Protocol.Buffers;
using Warren.Protocol.Framing;
using Warren.Protocol.Session;
using Warren.Protocol.Streams;
using Warren.Protocol.Tests.Support;

namespace Warren.Protocol.Tests.Session;

/// <summary>Load with checked payloads (RELIABILITY.md (a) E1, E2, C3; yamux TestManyStreams, smux TestParallel).</summary>
public sealed class ManyStreamsTests
{
    private enum Kind : byte
    {
        Echo,
        /// <summary>The opener resets after sending part of its payload.</summary>
        OpenerResets,
        /// <summary>The acceptor resets after its first read.</summary>
        AcceptorResets,
    }

    private const ErrorCode OpenerCode = ErrorCode.IdleTimeout;
    private const ErrorCode AcceptorCode = ErrorCode.DialFailed;

    [Theory]
    [MemberData(nameof(SessionPair.Matrix), MemberType = typeof(SessionPair))]
    public async Task ThousandStreams_EchoedWithResetsMixedIn_AllVerifiedAndTablesEmpty(TransportKind transport, SessionRole opener)
    {
        const int streams = 1000;
        var random = new Random(1000 + (int)transport * 2 + (int)opener);
        var plan = Enumerable.Range(0, streams).Select(i =>
        {
            // Mostly small, a few large (up to 4 MiB); about 5 % of streams reset by either side.
            var size = i switch
            {
                0 => 0,
                1 => 4 * 1024 * 1024,
                _ when random.Next(200) == 0 => random.Next(512 * 1024, 4 * 1024 * 1024),
                _ when random.Next(10) == 0 => random.Next(16 * 1024, 256 * 1024),
                _ => random.Next(0, 4096),
            };
            var kind = random.Next(40) switch { 0 => Kind.OpenerResets, 1 => Kind.AcceptorResets, _ => Kind.Echo };
            return (Kind: kind, Payload: RandomNumberGenerator.GetBytes(kind == Kind.Echo ? size : Math.Max(size, 1)));
        }).ToArray();

        // Each side gets its own buffer pool, so this test alone decides what is outstanding at the end.
        using var clientPool = new BlockPool(maxRetained: 4096, timeProvider: null);
        using var serverPool = new BlockPool(maxRetained: 4096, timeProvider: null);
        await using var pair = await SessionPair.StartAsync(transport, new SessionOptions { BufferPool = clientPool }, new SessionOptions { BufferPool = serverPool });
        var acceptorOutcomes = new ConcurrentDictionary<int, Exception?>();
        var acceptor = new AcceptLoop(pair.Acceptor(opener), async stream =>
        {
            var index = BitConverter.ToInt32(stream.Metadata.Span[1..]);
            try
            {
                if ((Kind)stream.Metadata.Span[0] == Kind.AcceptorResets)
                {
                    _ = await stream.ReadAsync(new byte[1]);
                    stream.Abort(AcceptorCode);
                    acceptorOutcomes[index] = null;
                    return;
                }
                await AcceptLoop.EchoAsync(stream);
                acceptorOutcomes[index] = null;
            }
            catch (Exception ex)
            {
                acceptorOutcomes[index] = ex;
            }
        });

        var openers = plan.Select((p, i) => Task.Run(() => RunOpenerAsync(pair.Opener(opener), i, p.Kind, p.Payload))).ToArray();
        var all = Task.WhenAll(openers);
        if (await Task.WhenAny(all, Task.Delay(TimeSpan.FromSeconds(60))) != all)
        {
            var stuck = openers.Select((t, i) => (t, i)).Where(x => !x.t.IsCompleted).Select(x => $"#{x.i} {plan[x.i].Kind} {plan[x.i].Payload.Length} B");
            Assert.Fail($"streams did not finish: {string.Join(", ", stuck.Take(20))}; opener holds {pair.Opener(opener).StreamCount}, acceptor {pair.Acceptor(opener).StreamCount}");
        }
        await all;
        await acceptor.HandlersAsync();

        for (var i = 0; i < streams; i++)
        {
            var outcome = acceptorOutcomes[i];
            if (plan[i].Kind == Kind.OpenerResets)
            {
                var aborted = Assert.IsType<StreamAbortedException>(outcome);
                Assert.Equal(OpenerCode, aborted.Code);
                Assert.True(aborted.ByPeer);
            }
            else
            {
                Assert.Null(outcome);
            }
        }
        await pair.WaitForNoStreamsAsync();
        // Every inbound buffer came back: read, or released when its stream was reset or disposed unread.
        Assert.Equal(0, clientPool.Outstanding);
        Assert.Equal(0, serverPool.Outstanding);
        Assert.True(clientPool.Retained + serverPool.Retained > 0, "the streams buffered nothing through their pools");
        Assert.False(pair.Client.Completion.IsCompleted);
        Assert.False(pair.Server.Completion.IsCompleted);
    }

    private static async Task RunOpenerAsync(MuxSession session, int index, Kind kind, byte[] payload)
    {
        var metadata = new byte[5];
        metadata[0] = (byte)kind;
        BitConverter.TryWriteBytes(metadata.AsSpan(1), index);
        await using var stream = await session.OpenStreamAsync(metadata);
        switch (kind)
        {
            case Kind.Echo:
                {
                    var send = Task.Run(async () =>
                    {
                        await stream.WriteAsync(payload);
                        stream.CompleteWrites();
                    });
                    var echoed = await AcceptLoop.ReadAllAsync(stream);
                    await send;
                    Assert.Equal(SHA256.HashData(payload), SHA256.HashData(echoed));
                    break;
                }
            case Kind.OpenerResets:
                // Less than a window: nobody reads the echo, so a larger write could never finish (echo deadlock).
                await stream.WriteAsync(payload.AsMemory(0, Math.Min(payload.Length / 2, 64 * 1024)));
                stream.Abort(OpenerCode);
                break;
            case Kind.AcceptorResets:
                {
                    var send = Task.Run(async () =>
                    {
                        await stream.WriteAsync(payload);
                        stream.CompleteWrites();
                    });
                    var read = await Assert.ThrowsAsync<StreamAbortedException>(() => AcceptLoop.ReadAllAsync(stream));
                    Assert.Equal(AcceptorCode, read.Code);
                    Assert.True(read.ByPeer);
                    // The write may have finished before the RST arrived; if not, it fails with the same reset.
                    var write = await Record.ExceptionAsync(() => send);
                    if (write is not null)
                    {
                        Assert.Equal(AcceptorCode, Assert.IsType<StreamAbortedException>(write).Code);
                    }
                    break;
                }
        }
    }

    [Theory]
    [InlineData(TransportKind.InMemory)]
    [InlineData(TransportKind.Tcp)]
    [InlineData(TransportKind.Tls)]
    public async Task SmallRoundTrips_ManyStreamsAtOnce_NeverWaitForAnUnrelatedWakeUp(TransportKind transport)
    {
        // Producers write inline and leave frames to whoever holds the writer's gate. A frame queued just as the holder
        // let go once waited for an unrelated wake-up (a PING, seconds later): with keepalive far away, such a frame
        // would wait forever, and this test would time out.
        var quiet = new SessionOptions { KeepAliveInterval = TimeSpan.FromHours(1), KeepAliveTimeout = TimeSpan.FromHours(2) };
        await using var pair = await SessionPair.StartAsync(transport, quiet, quiet.Clone());
        _ = new AcceptLoop(pair.Server, async stream =>
        {
            var one = new byte[1];
            while (await stream.ReadAsync(one) == 1)
            {
                await stream.WriteAsync(one);
            }
            stream.CompleteWrites();
        });
        const int streams = 32, rounds = 1_000;
        var clients = Enumerable.Range(0, streams).Select(i => Task.Run(async () =>
        {
            await using var stream = await pair.Client.OpenStreamAsync(new[] { (byte)i });
            var one = new byte[1];
            for (var r = 0; r < rounds; r++)
            {
                one[0] = (byte)r;
                await stream.WriteAsync(one);
                Assert.Equal(1, await stream.ReadAsync(one));
                Assert.Equal((byte)r, one[0]);
            }
        }));
        await Task.WhenAll(clients).Within(TimeSpan.FromSeconds(120));
    }
}
