using System.Collections.Concurrent;
using System.Diagnostics;
using System.Security.Cryptography;
using Warren.Protocol.Session;
using Warren.Protocol.Streams;
using Warren.Protocol.Tests.Support;
using Xunit.Abstractions;

namespace Warren.Protocol.Tests.Streams;

/// <summary>Per-stream flow control and window auto-tuning (docs/protocol.md §6; RELIABILITY.md (a) B1, B2, B5).</summary>
public sealed class FlowControlTests(ITestOutputHelper output)
{
    [Theory]
    [MemberData(nameof(SessionPair.Matrix), MemberType = typeof(SessionPair))]
    public async Task StalledReader_OtherStreamsTransfer_ThenStalledStreamCompletesIntact(TransportKind transport, SessionRole opener)
    {
        const int others = 20;
        await using var pair = await SessionPair.StartAsync(transport);
        var stalledPayload = RandomNumberGenerator.GetBytes(4 * pair.Acceptor(opener).Options.InitialStreamWindow);
        var payloads = Enumerable.Range(0, others).Select(_ => RandomNumberGenerator.GetBytes(1024 * 1024)).ToArray();
        var stalled = new TaskCompletionSource<MuxStream>(TaskCreationOptions.RunContinuationsAsynchronously);
        var received = new ConcurrentDictionary<int, byte[]>();
        var acceptor = new AcceptLoop(pair.Acceptor(opener), async stream =>
        {
            var index = stream.Metadata.Span[0];
            if (index == byte.MaxValue)
            {
                stalled.SetResult(stream); // nobody reads it until the others are done
                return;
            }
            received[index] = await AcceptLoop.ReadAllAsync(stream);
            stream.CompleteWrites();
        });

        var stalledStream = await pair.Opener(opener).OpenStreamAsync(new byte[] { byte.MaxValue });
        var stalledWrite = Task.Run(async () =>
        {
            await stalledStream.WriteAsync(stalledPayload);
            stalledStream.CompleteWrites();
        });
        var acceptedStalled = await stalled.Task.Within();

        var transfers = payloads.Select((payload, i) => Task.Run(async () =>
        {
            await using var stream = await pair.Opener(opener).OpenStreamAsync(new[] { (byte)i });
            await stream.WriteAsync(payload);
            stream.CompleteWrites();
            Assert.Equal(0, await stream.ReadAsync(new byte[1])); // the acceptor's FIN
        }));
        await Task.WhenAll(transfers).Within();
        await acceptor.HandlersAsync();
        for (var i = 0; i < others; i++)
        {
            Assert.Equal(SHA256.HashData(payloads[i]), SHA256.HashData(received[i]));
        }

        // The stalled writer is still blocked on its window: nothing was read, so no credit came back.
        Assert.False(stalledWrite.IsCompleted);
        var stalledBytes = await AcceptLoop.ReadAllAsync(acceptedStalled);
        await stalledWrite.Within();
        Assert.Equal(SHA256.HashData(stalledPayload), SHA256.HashData(stalledBytes));
        acceptedStalled.CompleteWrites();
        Assert.Equal(0, await stalledStream.ReadAsync(new byte[1]).Within());
        await stalledStream.DisposeAsync();
        await acceptedStalled.DisposeAsync();
        await pair.WaitForNoStreamsAsync();
    }

    [Fact]
    public async Task Window_FiftyMsRoundTrip_GrowsBeyondInitialWindow()
    {
        // 25 ms each way. A fixed 256 KiB window would cap one stream at 256 KiB / 50 ms = 5 MiB/s.
        var (c, s) = DelayedTransport.CreatePair(TimeSpan.FromMilliseconds(25));
        var serverTask = MuxSession.StartAsync(s, SessionRole.Server);
        await using var client = await MuxSession.StartAsync(c, SessionRole.Client).Within();
        await using var server = await serverTask.Within();
        var initial = server.Options.InitialStreamWindow;

        var payload = RandomNumberGenerator.GetBytes(24 * 1024 * 1024);
        var accept = Task.Run(async () =>
        {
            var stream = await server.AcceptStreamAsync();
            stream.Accept();
            return stream;
        });
        await using var sending = await client.OpenStreamAsync(Array.Empty<byte>()).Within();
        await using var receiving = await accept.Within();
        var clock = Stopwatch.StartNew();
        var write = Task.Run(async () =>
        {
            await sending.WriteAsync(payload);
            sending.CompleteWrites();
        });
        var bytes = await AcceptLoop.ReadAllAsync(receiving).Within(TimeSpan.FromSeconds(60));
        await write.Within();
        clock.Stop();

        Assert.Equal(SHA256.HashData(payload), SHA256.HashData(bytes));
        Assert.True(client.SmoothedRtt > TimeSpan.Zero, "the first PING measured the RTT");
        var window = receiving.ReceiveWindowSize;
        output.WriteLine($"RTT {client.SmoothedRtt.TotalMilliseconds:0} ms; window {initial / 1024} KiB -> {window / 1024} KiB; {payload.Length / clock.Elapsed.TotalSeconds / (1 << 20):0.0} MiB/s (a fixed window allows 5 MiB/s)");
        // Grown at least twice over: a window of 1 MiB at 50 ms already allows 20 MiB/s, four times the fixed window.
        Assert.True(window >= 4 * initial, $"the receive window grew from {initial} to only {window}");
        Assert.True(window <= server.Options.MaxStreamWindow);
    }
}
