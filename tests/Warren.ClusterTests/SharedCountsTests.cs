using System.Net;
using System.Net.Http;
using Warren.Configuration;
using Warren.Edge;
using Xunit.Abstractions;

namespace Warren.ClusterTests;

/// <summary>
/// Counts the cluster's edges share through Redis (docs/cluster.md, "Shared counts"): policy rate limits, the abuse
/// shield's strikes and token quotas hold for the cluster as a whole, each edge still deciding from its own memory.
/// The clients are told apart by X-Forwarded-For (the edges trust 127.0.0.1 as a proxy). Between rounds of requests
/// the tests wait for every edge's sync loop to pass twice, as a client slower than cluster.sync_interval would.
/// </summary>
public sealed class SharedCountsTests(ITestOutputHelper output) : LoggedTest(output)
{
    private static readonly string[] Edges = ["a", "b", "c"];

    private static EdgeConfig TrustLoopback(EdgeConfig config) => config with { TrustedProxies = ["127.0.0.1/32"] };

    [Fact]
    public async Task A_per_ip_rate_limit_holds_in_total_across_three_edges_within_one_request_per_other_edge_and_other_clients_are_untouched()
    {
        await using var cluster = await ClusterHarness.StartAsync(Log, ReservePort());
        foreach (var edge in Edges)
        {
            await cluster.StartEdgeAsync(edge, configure: TrustLoopback);
        }
        const int limit = 12; // per hour: nothing comes back during the test
        var service = cluster.Http("api", "api.test") with
        {
            Policy = new PolicyConfig { RateLimit = new RateLimitConfig { PerIp = new RateConfig { Requests = limit, Per = TimeSpan.FromHours(1) } } },
        };
        await cluster.StartAgentOnEdgesAsync(Edges, cluster.AlphaToken, "alpha", [service]);

        // One request to each edge per round, 10 rounds: 30 requests, 10 per edge (each edge alone would let all through).
        var admitted = 0;
        for (var round = 0; round < 10; round++)
        {
            foreach (var edge in Edges)
            {
                using var response = await GetAsync(cluster, edge, "api.test", "198.51.100.7");
                Assert.True(response.StatusCode is HttpStatusCode.OK or HttpStatusCode.TooManyRequests, $"edge {edge}: {response.StatusCode}");
                admitted += response.StatusCode == HttpStatusCode.OK ? 1 : 0;
            }
            await WaitForSyncsAsync(cluster);
        }
        Log.Note($"admitted {admitted} of 30 requests against a per-IP limit of {limit} across 3 edges");
        // docs/cluster.md, "How close to exact": each other edge may let through what it grants within one sync interval
        // before it learns of the rest (twice at a client's first requests): here one request per edge per interval.
        Assert.InRange(admitted, limit, limit + 2 * (Edges.Length - 1));
        foreach (var edge in Edges)
        {
            using var refused = await GetAsync(cluster, edge, "api.test", "198.51.100.7");
            Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
            using var other = await GetAsync(cluster, edge, "api.test", "198.51.100.8");
            Assert.Equal(HttpStatusCode.OK, other.StatusCode);
        }
    }

    [Fact]
    public async Task Auth_failures_counted_on_three_edges_add_up_to_a_ban_on_every_edge_and_another_client_is_served()
    {
        await using var cluster = await ClusterHarness.StartAsync(Log, ReservePort());
        foreach (var edge in Edges)
        {
            await cluster.StartEdgeAsync(edge, configure: c => TrustLoopback(c) with { Shield = new ShieldConfig { AuthFailures = 6 } });
        }
        var key = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData("right-key"u8));
        var service = cluster.Http("locked", "locked.test") with { Policy = new PolicyConfig { ApiKeys = new ApiKeysConfig { KeysSha256 = [key] } } };
        await cluster.StartAgentOnEdgesAsync(Edges, cluster.AlphaToken, "alpha", [service]);
        var guesser = IPAddress.Parse("198.51.100.9");

        // Two failures on each edge: 6 in all, the threshold, while each edge alone counts 2.
        for (var round = 0; round < 2; round++)
        {
            foreach (var edge in Edges)
            {
                Assert.False(cluster[edge].Shield.IsBanned(guesser), $"edge {edge} banned the guesser after {round} rounds");
                using var response = await GetAsync(cluster, edge, "locked.test", "198.51.100.9");
                Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
            }
            await WaitForSyncsAsync(cluster);
        }
        await Wait.UntilAsync(() => Edges.All(e => cluster[e].Shield.IsBanned(guesser)), "every edge bans the guesser");
        foreach (var edge in Edges)
        {
            using var refused = await GetAsync(cluster, edge, "locked.test", "198.51.100.9");
            Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
            using var other = await GetAsync(cluster, edge, "locked.test", "198.51.100.10", bearer: "right-key");
            Assert.Equal(HttpStatusCode.OK, other.StatusCode);
        }
    }

    /// <summary>Waits until every running edge's sync loop has passed twice since now: each edge wrote its counts and read the others'.</summary>
    private static async Task WaitForSyncsAsync(ClusterHarness cluster, params string[] edges)
    {
        edges = edges.Length == 0 ? Edges : edges;
        var marks = edges.ToDictionary(e => e, e => cluster[e].ClusterCounters!.Rounds);
        await Wait.UntilAsync(() => edges.All(e => cluster[e].ClusterCounters!.Rounds >= marks[e] + 2), "every edge synced its counts twice");
    }

    private static async Task<HttpResponseMessage> GetAsync(ClusterHarness cluster, string edge, string host, string client, string path = "/echo", string? bearer = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, $"http://127.0.0.1:{cluster[edge].HttpPort}{path}");
        request.Headers.Host = host;
        request.Headers.Add("X-Forwarded-For", client);
        if (bearer is not null)
        {
            request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", bearer);
        }
        return await cluster.Client.SendAsync(request);
    }
}
