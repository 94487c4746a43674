using System.Diagnostics;
using Warren.FaultTests.Harness;
using Xunit.Abstractions;

namespace Warren.FaultTests;

/// <summary>RELIABILITY (a) C5 and D1: the edge restarts on the same agent port; the agent comes back every time.</summary>
public sealed class EdgeRestartTests(ITestOutputHelper output) : LoggedTest(output)
{
    [Fact]
    public async Task Edge_restarted_five_times_in_a_row_the_agent_reconnects_within_its_backoff_and_routes_return_each_time()
    {
        await using var tunnel = await WarrenHarness.StartAsync(Log, new HarnessOptions());
        var agentsPort = tunnel.Edge.AgentsPort;
        var fingerprint = tunnel.Edge.AgentCertificateFingerprint;
        var agent = tunnel.Agent!;
        var reconnectTimes = new List<double>();

        for (var round = 1; round <= 5; round++)
        {
            // A download in flight when the edge goes: it fails, it is never presented as complete.
            using var inFlight = await PausedDownload.StartAsync(tunnel.Client, tunnel.Request(HttpMethod.Get, $"/bytes/{1L << 30}"), 256 * 1024);

            var reconnectsBefore = agent.Reconnects;
            await tunnel.StopEdgeAsync();
            var cut = await inFlight.ResumeAsync();
            Assert.True(cut.Error is not null && !cut.Hung && !cut.Complete, $"round {round}: the download in flight when the edge stopped: {cut}");

            // The agent notices before the new edge exists, so it really has to reconnect.
            await Wait.UntilAsync(() => agent.ConnectedSessions == 0, $"round {round}: the agent noticed the edge went away");
            await tunnel.StartEdgeAsync();
            var restartedAt = Stopwatch.StartNew();
            Assert.Equal(agentsPort, tunnel.Edge.AgentsPort);
            Assert.Equal(fingerprint, tunnel.Edge.AgentCertificateFingerprint);

            // The stopping edge sent GOAWAY, so the agent tries again every 0.25–0.5 s (Connection/EdgeRestartPace.cs)
            // rather than on its backoff; the note below says how soon it was back.
            await tunnel.WaitUntilServedAsync("app", TimeSpan.FromSeconds(20));
            reconnectTimes.Add(restartedAt.Elapsed.TotalSeconds);
            await Wait.UntilAsync(() => agent.IsReady, $"round {round}: the agent is ready again");
            Assert.True(agent.Reconnects > reconnectsBefore, $"round {round}: the agent did not count a reconnect");
            Assert.Single((await tunnel.StatusAsync()).Sessions);

            await Transfers.AssertDownloadAsync(tunnel.Client, tunnel.Request(HttpMethod.Get, $"/bytes/{4 << 20}"), 4 << 20);
        }
        Log.Note($"served again {string.Join(", ", reconnectTimes.Select(t => $"{t:0.00}"))} s after each restart");
    }

    [Fact]
    public async Task Edge_stopped_then_disposed_as_warren_edge_does_on_SIGTERM_does_not_throw()
    {
        // EdgeCommand: await using (edge) { ...; await edge.StopAsync(30 s); } — so a graceful stop is followed by
        // DisposeAsync, which stops again. The second stop used to throw ObjectDisposedException from the TCP host.
        await using var tunnel = await WarrenHarness.StartAsync(Log);
        using (var before = await tunnel.GetAsync("/echo"))
        {
            Assert.Equal(System.Net.HttpStatusCode.OK, before.StatusCode);
        }

        await tunnel.Edge.StopAsync(TimeSpan.FromSeconds(5));
        await tunnel.StopEdgeAsync();
    }
}
