using System.Diagnostics;
using System.Net.Http;
using System.Net.Sockets;
using Warren.FaultTests.Harness;
using Xunit;
using Xunit.Abstractions;

namespace Warren.FaultTests;

/// <summary>
/// RELIABILITY (a) B1, B5, D4: a client that asks for a large download and reads nothing stalls its own stream
/// only. Flow control holds the rest of the body back at the backend, so the edge's memory does not grow with
/// it; other clients' downloads complete byte-exact meanwhile; when the client reads again it gets every byte.
/// </summary>
[Collection(ClientIsolatedCollection.Name)]
public sealed class ClientSlowReaderTests(ITestOutputHelper output) : LoggedTest(output)
{
    private const long MiB = 1024 * 1024;
    private const long StalledSize = 1024 * MiB;
    private const int Others = 100;
    private const long OtherSize = 1 * MiB;

    [Fact]
    public async Task Client_reading_nothing_stalls_only_its_own_download_and_edge_memory_stays_bounded()
    {
        using var timeout = new CancellationTokenSource(TestTimeout);
        await using var tunnel = await WarrenHarness.StartAsync(Log);
        // Warm the path (pools, JIT) so the baseline holds what every transfer needs anyway.
        await ClientDownload.VerifiedAsync(tunnel, tunnel.Client, OtherSize, timeout.Token);
        var baseline = GC.GetTotalMemory(forceFullCollection: true);

        using var stalled = await ClientConnection.ConnectAsync(tunnel.Edge.HttpPort!.Value, timeout.Token);
        await stalled.SendAsync($"GET /bytes/{StalledSize} HTTP/1.1\r\nHost: {WarrenHarness.AppHost}\r\n\r\n", timeout.Token);
        var (status, _, bodyStart) = await stalled.ReadResponseHeadAsync(timeout.Token);
        Assert.Equal(200, status);
        await using var stalledBody = new NetworkStream(stalled.Socket, ownsSocket: false);
        var stalledVerifier = new Mod251Verifier();
        stalledVerifier.Check(bodyStart);
        await ClientDownload.ReadVerifiedAsync(stalledBody, stalledVerifier, MiB, timeout.Token);
        Log.Note($"the stalled client read {stalledVerifier.Verified} bytes, then stopped reading");

        // Meanwhile: 100 other clients download byte-exact, while the heap is sampled after full collections.
        var clock = Stopwatch.StartNew();
        var others = Task.WhenAll(Enumerable.Range(0, Others).Select(_ => Task.Run(() => ClientDownload.VerifiedAsync(tunnel, tunnel.Client, OtherSize, timeout.Token))));
        var peak = baseline;
        while (!others.IsCompleted)
        {
            peak = Math.Max(peak, GC.GetTotalMemory(forceFullCollection: true));
            await Task.WhenAny(others, Task.Delay(250, timeout.Token));
        }
        await Wait.WithTimeoutAsync(others, TimeSpan.FromSeconds(60), $"{Others} downloads beside the stalled one");
        var othersTime = clock.Elapsed;
        // At rest, the stalled download alone holds what flow control lets be in flight.
        var atRest = baseline;
        for (var i = 0; i < 3; i++)
        {
            atRest = Math.Max(atRest, GC.GetTotalMemory(forceFullCollection: true));
            await Task.Delay(100, timeout.Token);
        }
        var peakGrowth = (Math.Max(peak, atRest) - baseline) / (double)MiB;
        var stalledGrowth = (atRest - baseline) / (double)MiB;
        Log.Note($"{Others} x {OtherSize / MiB} MiB downloads completed byte-exact in {othersTime.TotalSeconds:0.0} s ({Others * OtherSize / MiB / othersTime.TotalSeconds:0} MiB/s) beside the stalled one");
        Log.Note($"managed heap growth: {peakGrowth:0.0} MiB at peak with the {Others} downloads, {stalledGrowth:0.0} MiB with the stalled {StalledSize / MiB} MiB download alone; {stalled.Socket.Available} bytes wait in the client's socket");
        Assert.True(stalledGrowth < 64, $"the managed heap grew by {stalledGrowth:0.0} MiB while a {StalledSize / MiB} MiB download was stalled");
        Assert.True(peakGrowth < 256, $"the managed heap grew by {peakGrowth:0.0} MiB with {Others} downloads beside a stalled {StalledSize / MiB} MiB one");

        clock.Restart();
        // The connection stays open (keep-alive) after the body: read exactly the rest.
        Assert.Equal(StalledSize, await ClientDownload.ReadVerifiedAsync(stalledBody, stalledVerifier, StalledSize - stalledVerifier.Verified, timeout.Token));
        Log.Note($"the stalled client then read the remaining {(StalledSize - MiB) / MiB} MiB byte-exact in {clock.Elapsed.TotalSeconds:0.0} s");
    }
}
