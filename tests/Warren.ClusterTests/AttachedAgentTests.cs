using System.Net;
using Xunit.Abstractions;

namespace Warren.ClusterTests;

/// <summary>Agents attached to every edge of a cluster (agent.yaml <c>edges:</c>; docs/cluster.md, "Agents").</summary>
public sealed class AttachedAgentTests(ITestOutputHelper output) : LoggedTest(output)
{
    [Fact]
    public async Task Three_edges_and_two_agents_attached_to_each_requests_through_every_edge_reach_every_service()
    {
        await using var cluster = await ClusterHarness.StartAsync(Log, ReservePort());
        string[] edges = ["a", "b", "c"];
        foreach (var edge in edges)
        {
            await cluster.StartEdgeAsync(edge);
        }

        // Two tokens, each agent on every edge: the same names registered on three edges by one token are one owner's.
        var alpha = await cluster.StartAgentOnEdgesAsync(edges, cluster.AlphaToken, "alpha", [cluster.Http("app", "app.test")]);
        var beta = await cluster.StartAgentOnEdgesAsync(edges, cluster.BetaToken, "beta", [cluster.Http("api", "api.test")]);
        Assert.True(alpha.IsReady && beta.IsReady);

        foreach (var edge in edges)
        {
            Assert.Equal(2, cluster[edge].SessionCount);
            foreach (var host in new[] { "app.test", "api.test" })
            {
                for (var i = 0; i < 5; i++)
                {
                    using var response = await cluster.GetAsync(edge, host);
                    Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                }
            }
        }
        // Each edge's registry knows that every edge holds both services.
        await Wait.UntilAsync(() => edges.All(e => edges.All(other => cluster[e].ClusterRegistry!.Edges.TryGetValue(other, out var seen)
            && seen.Services.Contains("alpha/app") && seen.Services.Contains("beta/api"))), "every edge sees both services on every edge");

        // One edge gone: the agents keep serving through the others.
        await cluster.StopEdgeAsync("b");
        await Wait.UntilAsync(() => alpha.ConnectedSessions == 2 && beta.ConnectedSessions == 2, "the agents hold sessions to the two edges left");
        foreach (var edge in new[] { "a", "c" })
        {
            using var app = await cluster.GetAsync(edge, "app.test");
            using var api = await cluster.GetAsync(edge, "api.test");
            Assert.Equal(HttpStatusCode.OK, app.StatusCode);
            Assert.Equal(HttpStatusCode.OK, api.StatusCode);
        }
    }
}
