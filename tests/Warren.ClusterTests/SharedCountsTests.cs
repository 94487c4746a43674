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

    [Fact]
    public async Task A_token_quota_used_through_two_edges_is_refused_by_the_third_when_the_sum_passes_it()
    {
        await using var cluster = await ClusterHarness.StartAsync(Log, ReservePort());
        foreach (var edge in Edges)
        {
            await cluster.StartEdgeAsync(edge, configure: c => WithQuota(c, 2_000_000));
        }
        await cluster.StartAgentOnEdgesAsync(Edges, cluster.AlphaToken, "alpha", [cluster.Http("files", "files.test")]);

        // 1.2 MB through a, then (once b knows of it) 1.2 MB through b: each edge alone is under the 2 MB quota.
        using (var first = await GetAsync(cluster, "a", "files.test", "198.51.100.20", "/bytes/1200000"))
        {
            Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        }
        await Wait.UntilAsync(() => Account(cluster, "b").UsedToday >= 1_200_000, "edge b counts what alpha used through edge a");
        using (var second = await GetAsync(cluster, "b", "files.test", "198.51.100.20", "/bytes/1200000"))
        {
            Assert.Equal(HttpStatusCode.OK, second.StatusCode);
        }
        Assert.True(Account(cluster, "c").Own.UsedDay == 0, "edge c served nothing itself");
        await Wait.UntilAsync(() => Edges.All(e => Account(cluster, e).Exceeded is not null), "every edge judges alpha over its quota");
        foreach (var edge in Edges)
        {
            using var refused = await GetAsync(cluster, edge, "files.test", "198.51.100.20", "/bytes/10");
            Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
            Assert.Contains("Quota exceeded: token 'alpha'", await refused.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Redis_killed_and_restarted_the_counts_each_edge_made_meanwhile_are_added_once_and_limits_and_quotas_converge()
    {
        await using var cluster = await ClusterHarness.StartAsync(Log, ReservePort());
        string[] edges = ["a", "b"];
        foreach (var edge in edges)
        {
            await cluster.StartEdgeAsync(edge, configure: c => WithQuota(TrustLoopback(c), 100_000_000));
        }
        var service = cluster.Http("api", "api.test") with
        {
            Policy = new PolicyConfig { RateLimit = new RateLimitConfig { PerIp = new RateConfig { Requests = 10, Per = TimeSpan.FromHours(1) } } },
        };
        await cluster.StartAgentOnEdgesAsync(edges, cluster.AlphaToken, "alpha", [service]);

        // 3 requests through each edge while Redis is there: each edge has 10 - 3 - 3 = 4 left.
        await SendAsync(cluster, edges, 3, HttpStatusCode.OK);
        await WaitForSyncsAsync(cluster, edges);

        await cluster.Redis.KillAsync();
        await Wait.UntilAsync(() => edges.All(e => !cluster[e].Cluster!.IsConnected), "both edges saw Redis go");
        // Each edge limits alone meanwhile: 3 more through each, 12 in all (one edge alone would have stopped at 10).
        await SendAsync(cluster, edges, 3, HttpStatusCode.OK);

        await cluster.Redis.StartAgainAsync();
        await Wait.UntilAsync(() => edges.All(e => cluster[e].Cluster!.IsConnected), "both edges reconnected to Redis", TimeSpan.FromSeconds(60));
        await WaitForSyncsAsync(cluster, edges);
        // Each edge now owes the other's 3 made meanwhile: 4 - 3 - 3 < 0, so the client is refused everywhere.
        await SendAsync(cluster, edges, 1, HttpStatusCode.TooManyRequests);
        using (var other = await GetAsync(cluster, "a", "api.test", "198.51.100.31"))
        {
            Assert.Equal(HttpStatusCode.OK, other.StatusCode);
        }

        // The quota's counts converge exactly: each edge's total is both edges' own use, counted once.
        await Wait.UntilAsync(() =>
        {
            var (a, b) = (Account(cluster, "a"), Account(cluster, "b"));
            var sum = a.Own.UsedDay + b.Own.UsedDay;
            return a.Own.UsedDay > 0 && b.Own.UsedDay > 0 && a.UsedToday == sum && b.UsedToday == sum;
        }, "both edges count alpha's use through both, once");
    }

    [Fact]
    public async Task A_services_requests_and_bytes_today_through_two_edges_are_summed_on_each_edge()
    {
        await using var cluster = await ClusterHarness.StartAsync(Log, ReservePort());
        string[] edges = ["a", "b"];
        foreach (var edge in edges)
        {
            await cluster.StartEdgeAsync(edge);
        }
        await cluster.StartAgentOnEdgesAsync(edges, cluster.AlphaToken, "alpha", [cluster.Http("web", "web.test")]);
        foreach (var (edge, count) in new[] { ("a", 3), ("b", 2) })
        {
            for (var i = 0; i < count; i++)
            {
                using var response = await GetAsync(cluster, edge, "web.test", "198.51.100.40", "/bytes/1000");
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            }
        }
        await Wait.UntilAsync(() =>
        {
            var (a, b) = (Today(cluster, "a"), Today(cluster, "b"));
            return a.Own.Requests == 3 && b.Own.Requests == 2 && a.Total.Requests == 5 && b.Total.Requests == 5
                && a.Total.Bytes == a.Own.Bytes + b.Own.Bytes && b.Total == a.Total;
        }, "each edge counts the service's 5 requests and their bytes through both edges, once");
        Assert.True(Today(cluster, "a").Total.Bytes >= 5_000);
    }

    private static Warren.Edge.Accounting.DayTraffic Today(ClusterHarness cluster, string edge) => cluster[edge].Console!.Accounting.TodayOf("service", "web");

    private static EdgeConfig WithQuota(EdgeConfig config, long daily) =>
        config with { Tokens = [.. config.Tokens.Select(t => t.Name == "alpha" ? t with { Quota = new QuotaConfig { Daily = daily } } : t)] };

    private static Warren.Edge.Accounting.TokenAccount Account(ClusterHarness cluster, string edge) => cluster[edge].Console!.Accounting.AccountOf("alpha");

    /// <summary><paramref name="count"/> requests of client 198.51.100.30 through each of <paramref name="edges"/>, each answered <paramref name="expected"/>.</summary>
    private static async Task SendAsync(ClusterHarness cluster, string[] edges, int count, HttpStatusCode expected)
    {
        foreach (var edge in edges)
        {
            for (var i = 0; i < count; i++)
            {
                using var response = await GetAsync(cluster, edge, "api.test", "198.51.100.30");
                Assert.True(response.StatusCode == expected, $"request {i + 1} through edge {edge}: {response.StatusCode}, expected {expected}");
            }
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
