using System.Net;
using Xunit.Abstractions;

namespace Warren.FunctionalTests;

/// <summary>
/// Pooled keep-alive connections to services are streams of one agent session each (Forwarding/TunnelHttpClient.cs):
/// a session that goes away takes only its own pooled connections with it.
/// </summary>
public sealed class SessionPoolTests(ITestOutputHelper output) : LoggedTest(output)
{
    [Fact]
    public async Task An_agent_going_away_leaves_other_sessions_pooled_connections_open()
    {
        await using var tunnel = await WarrenHarness.StartAsync(Log);
        var other = await tunnel.StartOtherAgentAsync(tunnel.Token, "other-agent", [tunnel.HttpService("other", "other.test")]);
        var appSession = tunnel.Edge.State.Sessions.Single(s => s.AgentName != "other-agent");

        // One request at a time: each service's pool holds one connection, one stream on its session.
        for (var i = 0; i < 3; i++)
        {
            using var app = await tunnel.GetAsync("/echo");
            Assert.Equal(HttpStatusCode.OK, app.StatusCode);
            using var viaOther = await tunnel.GetAsync("/echo", "other.test");
            Assert.Equal(HttpStatusCode.OK, viaOther.StatusCode);
        }
        var opened = appSession.Mux.Counters.StreamsOpened;
        Assert.Equal(1, opened);
        Assert.Equal(2, tunnel.Edge.Client.LiveCount);

        await other.DisposeAsync(); // its session drains and goes away
        await Wait.UntilAsync(() => tunnel.Edge.State.Sessions.All(s => s.AgentName != "other-agent"), "the other agent's session is gone");
        await Wait.UntilAsync(() => tunnel.Edge.Client.LiveCount == 1, "the gone session's client is retired");

        for (var i = 0; i < 3; i++)
        {
            using var app = await tunnel.GetAsync("/echo");
            Assert.Equal(HttpStatusCode.OK, app.StatusCode);
        }
        // The app's pooled connection was kept: no new stream. (One client for every session was replaced whole
        // whenever any session went away, and every service opened new streams after it.)
        Assert.Equal(opened, appSession.Mux.Counters.StreamsOpened);
    }
}
