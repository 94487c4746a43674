using System.Net;
using System.Net.Http;
using Xunit.Abstractions;

namespace Warren.FunctionalTests;

/// <summary>Runs alone (after the parallel tests) so the memory it measures is its own transfer's.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class MemoryCollection
{
    public const string Name = "Memory measurements";
}

[Collection(MemoryCollection.Name)]
public sealed class LargeDownloadTests(ITestOutputHelper output) : LoggedTest(output)
{
    private const long MiB = 1024 * 1024;

    [Fact]
    public async Task Download_of_200_MB_is_streamed_byte_exact_without_memory_growing_with_its_size()
    {
        const long size = 200 * MiB;
        await using var tunnel = await WarrenHarness.StartAsync(Log);
        // Warm the path up (pools, JIT) so the baseline includes what every transfer needs.
        using (var warm = await tunnel.GetAsync("/bytes/1048576"))
        {
            Assert.Equal(1048576, (await warm.Content.ReadAsByteArrayAsync()).Length);
        }
        var managedBaseline = GC.GetTotalMemory(forceFullCollection: true);
        var workingSetBaseline = Environment.WorkingSet;
        long managedPeak = managedBaseline, workingSetPeak = workingSetBaseline;

        using var request = tunnel.Request(HttpMethod.Get, $"/bytes/{size}");
        using var response = await tunnel.Client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(size, response.Content.Headers.ContentLength);
        await using var body = await response.Content.ReadAsStreamAsync();
        var verifier = new Mod251Verifier();
        var buffer = new byte[64 * 1024];
        var nextSample = 20 * MiB;
        using var timeout = new CancellationTokenSource(TestTimeout);
        int n;
        while ((n = await body.ReadAsync(buffer, timeout.Token)) > 0)
        {
            verifier.Check(buffer.AsSpan(0, n));
            if (verifier.Verified >= nextSample)
            {
                // Live objects after a full collection: what the edge, agent and backend hold for this transfer.
                managedPeak = Math.Max(managedPeak, GC.GetTotalMemory(forceFullCollection: true));
                workingSetPeak = Math.Max(workingSetPeak, Environment.WorkingSet);
                nextSample += 20 * MiB;
            }
        }

        Assert.Equal(size, verifier.Verified);
        var managedGrowth = (managedPeak - managedBaseline) / (double)MiB;
        var workingSetGrowth = (workingSetPeak - workingSetBaseline) / (double)MiB;
        Log.Note($"managed heap growth {managedGrowth:0.0} MiB, working set growth {workingSetGrowth:0.0} MiB for a {size / MiB} MiB download");
        Assert.True(managedGrowth < 100, $"the managed heap grew by {managedGrowth:0.0} MiB during a {size / MiB} MiB download");
        Assert.True(workingSetGrowth < 100, $"the working set grew by {workingSetGrowth:0.0} MiB during a {size / MiB} MiB download");
    }
}
