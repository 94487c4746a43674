using System.Diagnostics;
using System.Net;
using Xunit.Abstractions;

namespace Warren.ClusterTests;

/// <summary>
/// Losing or restarting one edge of a cluster (docs/cluster.md, "Failure modes"): real edge processes, one agent
/// attached to two of the three, and HAProxy in front of all three as a production cluster runs.
/// </summary>
public sealed class ClusterFailureTests(ITestOutputHelper output) : LoggedTest(output)
{
    private const int Workers = 4;

    /// <summary>Requests the loop completes after the event before it stops: bounded by count, not by time.</summary>
    private const int AfterEvent = 200;

    [Fact]
    public async Task An_edge_killed_with_SIGKILL_under_a_request_loop_costs_only_the_requests_in_flight_on_it_and_the_other_edges_keep_serving()
    {
        await using var cluster = await ProcessCluster.StartAsync(Log, ReservePort, ["a", "b", "c"], agentEdges: ["a", "b"]);
        var loop = cluster.Loop(Workers);
        await Wait.UntilAsync(() => loop.Count >= 50, "the request loop runs");

        // b holds a session of the agent and takes requests from HAProxy and from c.
        cluster.Edges["b"].Process.Kill();
        await Wait.UntilAsync(() => cluster.Edges["b"].Process.HasExited, "edge b is gone");
        var dead = Stopwatch.GetTimestamp();
        var outcomes = await RunOnAsync(loop);

        var failed = outcomes.Where(o => o.Error is not null).ToList();
        Log.Note($"{outcomes.Length} requests, {failed.Count} failed: {string.Join("; ", failed.Select(f => f.Error))}");
        // Only requests in flight when b died may have failed: at most one per worker, each started before b was gone.
        Assert.True(failed.Count <= Workers, $"{failed.Count} requests failed");
        Assert.All(failed, f => Assert.True(f.Started < dead, $"a request started after edge b was gone failed: {f.Error}"));
        Assert.True(outcomes.Count(o => o.Started > dead && o.Error is null) >= AfterEvent);
        // a and c keep serving, a with its own session, c by forwarding to a.
        foreach (var edge in new[] { "a", "c" })
        {
            using var response = await cluster.GetAsync(cluster.Edges[edge].HttpPort);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }
    }

    [Fact]
    public async Task An_edge_stopped_with_SIGTERM_behind_HAProxy_under_a_request_loop_fails_no_request_started_after_its_GOAWAY()
    {
        await using var cluster = await ProcessCluster.StartAsync(Log, ReservePort, ["a", "b", "c"], agentEdges: ["a", "b"]);
        var loop = cluster.Loop(Workers);
        await Wait.UntilAsync(() => loop.Count >= 50, "the request loop runs");

        // Sent before b can send any GOAWAY: every request counted below started after it.
        var terminated = Stopwatch.GetTimestamp();
        await cluster.Edges["b"].Process.TerminateAsync();
        Assert.Equal(0, await cluster.Edges["b"].Process.WaitForExitAsync(TimeSpan.FromSeconds(60)));
        var outcomes = await RunOnAsync(loop);

        var after = outcomes.Where(o => o.Started >= terminated).ToList();
        var failed = after.Where(o => o.Error is not null).ToList();
        Log.Note($"{outcomes.Length} requests, {after.Count} started after the SIGTERM, {failed.Count} of them failed: {string.Join("; ", failed.Select(f => f.Error))}");
        Assert.Empty(failed);
        Assert.True(after.Count >= AfterEvent);
    }

    /// <summary>Lets the loop answer <see cref="AfterEvent"/> more requests (and those in flight), then stops it.</summary>
    private static async Task<ProcessCluster.Outcome[]> RunOnAsync(ProcessCluster.RequestLoop loop)
    {
        var target = loop.Count + AfterEvent + Workers;
        await Wait.UntilAsync(() => loop.Count >= target, $"{AfterEvent} more requests answered", TimeSpan.FromSeconds(90));
        return await loop.StopAsync();
    }
}
