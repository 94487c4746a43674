using System.Net;
using Xunit.Abstractions;

namespace Warren.FunctionalTests;

public sealed class EdgeRestartTests(ITestOutputHelper output) : LoggedTest(output)
{
    [Fact]
    public async Task Agent_reconnects_to_a_restarted_edge_on_the_same_port_and_requests_succeed()
    {
        await using var tunnel = await WarrenHarness.StartAsync(Log, new HarnessOptions { AgentsPort = Ports.Free() });
        var agentsPort = tunnel.Edge.AgentsPort;
        var fingerprint = tunnel.Edge.AgentCertificateFingerprint;
        using (var before = await tunnel.GetAsync("/echo"))
        {
            Assert.Equal(HttpStatusCode.OK, before.StatusCode);
        }

        await tunnel.StopEdgeAsync();
        // The agent notices (its session ends) before the new edge exists, so it really has to reconnect.
        await Wait.UntilAsync(() => tunnel.Agent!.ConnectedSessions == 0, "the agent noticed the edge went away");
        await tunnel.StartEdgeAsync();

        Assert.Equal(agentsPort, tunnel.Edge.AgentsPort);
        Assert.Equal(fingerprint, tunnel.Edge.AgentCertificateFingerprint);
        // Backoff starts at 1 s with full jitter and doubles: a few attempts at most.
        await tunnel.WaitUntilServedAsync("app", TimeSpan.FromSeconds(20));
        await Wait.UntilAsync(() => tunnel.Agent!.IsReady, "the agent is ready again");
        using var after = await tunnel.GetAsync("/echo?after=restart");

        Assert.Equal(HttpStatusCode.OK, after.StatusCode);
        Assert.StartsWith("GET /echo?after=restart\n", await after.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.True(tunnel.Agent!.Reconnects >= 1);
    }

    [Fact]
    public async Task Edge_stopped_then_disposed_as_warren_edge_does_on_SIGTERM_does_not_throw()
    {
        // EdgeCommand: await using (edge) { ...; await edge.StopAsync(30 s); } — so a graceful stop is followed by
        // DisposeAsync, which stops again. The second stop used to throw ObjectDisposedException from the TCP host.
        await using var tunnel = await WarrenHarness.StartAsync(Log);
        using (var before = await tunnel.GetAsync("/echo"))
        {
            Assert.Equal(HttpStatusCode.OK, before.StatusCode);
        }

        await tunnel.Edge.StopAsync(TimeSpan.FromSeconds(5));
        await tunnel.StopEdgeAsync();
    }
}
