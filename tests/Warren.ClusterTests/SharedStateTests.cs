using System.Diagnostics;
using System.Net;
using System.Net.Http;
using System.Net.Http.Json;
using System.Text.Json;
using StackExchange.Redis;
using Xunit.Abstractions;

namespace Warren.ClusterTests;

/// <summary>
/// What the edges of a cluster share through Redis (docs/cluster.md): tokens and their revocation, hostname
/// ownership, the registry of edges, and serving on with the last known state while Redis is away.
/// </summary>
public sealed class SharedStateTests(ITestOutputHelper output) : LoggedTest(output)
{
    [Fact]
    public async Task A_token_created_on_one_edge_logs_in_on_the_others_and_its_revoke_there_ends_its_sessions_on_every_edge()
    {
        await using var cluster = await ClusterHarness.StartAsync(Log, ReservePort());
        // Edges b and c never move their clocks: no periodic catch-up, so only the pub/sub message can tell them.
        var a = await cluster.StartEdgeAsync("a");
        await cluster.StartEdgeAsync("b", frozenClock: true);
        await cluster.StartEdgeAsync("c", frozenClock: true);

        string secret;
        using (var create = await cluster.Client.PostAsJsonAsync($"http://127.0.0.1:{a.AdminPort}/api/tokens", new { name = "gamma", allow_hosts = new[] { "*.gamma.test" } }))
        {
            Assert.Equal(HttpStatusCode.Created, create.StatusCode);
            secret = (await create.Content.ReadFromJsonAsync<Created>())!.Token;
        }
        var onB = await cluster.StartAgentAsync("b", secret, "gamma-b", [cluster.Http("web", "web.gamma.test")]);
        var onC = await cluster.StartAgentAsync("c", secret, "gamma-c", [cluster.Http("web", "web.gamma.test")]);
        Assert.Equal(1, cluster["b"].SessionCount);
        Assert.Equal(1, cluster["c"].SessionCount);

        var clock = Stopwatch.StartNew();
        using (var revoke = await cluster.Client.DeleteAsync($"http://127.0.0.1:{a.AdminPort}/api/tokens/gamma"))
        {
            Assert.Equal(HttpStatusCode.NoContent, revoke.StatusCode);
        }
        await Wait.UntilAsync(() => cluster["b"].SessionCount == 0 && cluster["c"].SessionCount == 0, "the revoked token's sessions on edges b and c ended");
        Log.Note($"sessions on b and c ended {clock.Elapsed.TotalMilliseconds:0} ms after the revoke on a");
        Assert.Null(cluster["b"].Tokens.Validate(secret));
        Assert.Null(cluster["c"].Tokens.Validate(secret));
        // The agents try again after their backoff; a revoked token gets no session back on any edge.
        await Wait.UntilAsync(() => onB.ConnectedSessions + onC.ConnectedSessions == 0, "the revoked token's agents have no session");
    }

    [Fact]
    public async Task Two_agents_of_different_tokens_claiming_one_hostname_on_two_edges_exactly_one_wins_and_the_loser_is_told_why()
    {
        await using var cluster = await ClusterHarness.StartAsync(Log, ReservePort());
        await cluster.StartEdgeAsync("a");
        await cluster.StartEdgeAsync("b");

        // Both start at once: the claims race in Redis.
        var alpha = cluster.StartAgentAsync("a", cluster.AlphaToken, "alpha", [cluster.Http("race-alpha", "race.test")], waitUntilReady: false);
        var beta = cluster.StartAgentAsync("b", cluster.BetaToken, "beta", [cluster.Http("race-beta", "race.test")], waitUntilReady: false);
        var agents = await Task.WhenAll(alpha, beta);
        await Wait.UntilAsync(() => agents.Count(a => a.IsReady) == 1 && Log.Matching("refused", "race.test is owned by another token in the cluster").Count >= 1,
            "one agent registered race.test and the other was refused");

        var winner = agents[0].IsReady ? "a" : "b";
        var loser = winner == "a" ? "beta" : "alpha";
        Assert.Single(agents, a => a.IsReady);
        // The losing agent's own log says why (the edge's log says it too).
        await Log.WaitForAsync(TimeSpan.FromSeconds(30), $"Service race-{loser} was refused by the edge: hostname race.test is owned by another token in the cluster");
        using (var served = await cluster.GetAsync(winner, "race.test"))
        {
            Assert.Equal(HttpStatusCode.OK, served.StatusCode);
        }
        var redis = await ConnectAsync(cluster.Redis);
        Assert.Equal(winner == "a" ? "alpha" : "beta", (string?)await redis.GetDatabase().StringGetAsync("warren:claim:host:race.test"));
    }

    [Fact]
    public async Task Redis_killed_and_restarted_no_edge_stops_serving_only_new_claims_are_refused_meanwhile_and_claims_are_taken_again()
    {
        await using var cluster = await ClusterHarness.StartAsync(Log, ReservePort());
        await cluster.StartEdgeAsync("a");
        await cluster.StartEdgeAsync("b");
        await cluster.StartAgentAsync("a", cluster.AlphaToken, "alpha", [cluster.Http("app", "app.test")]);
        await cluster.StartAgentAsync("b", cluster.BetaToken, "beta", [cluster.Http("other", "other.test")]);

        await cluster.Redis.KillAsync();
        await Wait.UntilAsync(() => !cluster["a"].Cluster!.IsConnected && !cluster["b"].Cluster!.IsConnected, "both edges saw Redis go");
        for (var i = 0; i < 20; i++)
        {
            using var fromA = await cluster.GetAsync("a", "app.test");
            using var fromB = await cluster.GetAsync("b", "other.test");
            Assert.Equal(HttpStatusCode.OK, fromA.StatusCode);
            Assert.Equal(HttpStatusCode.OK, fromB.StatusCode);
        }
        // Known tokens still log in; a new name cannot be claimed without Redis.
        var refused = await cluster.StartAgentAsync("b", cluster.AlphaToken, "alpha-new", [cluster.Http("fresh", "fresh.test")], waitUntilReady: false);
        await Log.WaitForAsync(TimeSpan.FromSeconds(30), "fresh", "hostname fresh.test cannot be claimed now: the cluster's shared state (Redis) is unreachable");
        Assert.False(refused.IsReady);

        await cluster.Redis.StartAgainAsync();
        await Wait.UntilAsync(() => cluster["a"].Cluster!.IsConnected && cluster["b"].Cluster!.IsConnected, "both edges reconnected to Redis", TimeSpan.FromSeconds(60));
        // The empty Redis learns the names again from the edges that serve them.
        var redis = await ConnectAsync(cluster.Redis);
        await Wait.UntilAsync(async () => (string?)await redis.GetDatabase().StringGetAsync("warren:claim:host:app.test") == "alpha"
            && (string?)await redis.GetDatabase().StringGetAsync("warren:claim:host:other.test") == "beta", "the claims are in Redis again");
        using (var fromA = await cluster.GetAsync("a", "app.test"))
        {
            Assert.Equal(HttpStatusCode.OK, fromA.StatusCode);
        }
        await cluster.StartAgentAsync("b", cluster.BetaToken, "beta-later", [cluster.Http("later", "later.test")]);
        await cluster.WaitUntilServedAsync("b", "later.test");
        // beta cannot take alpha's name, even on an edge where alpha has no session.
        await cluster.StartAgentAsync("b", cluster.BetaToken, "beta-thief", [cluster.Http("stolen", "app.test")], waitUntilReady: false);
        await Log.WaitForAsync(TimeSpan.FromSeconds(30), "stolen", "hostname app.test is owned by another token in the cluster");
    }

    [Fact]
    public async Task Each_edge_sees_every_edge_and_the_services_it_holds_sessions_for_and_a_stopped_edge_leaves()
    {
        await using var cluster = await ClusterHarness.StartAsync(Log, ReservePort());
        await cluster.StartEdgeAsync("a");
        await cluster.StartEdgeAsync("b");
        await cluster.StartAgentAsync("a", cluster.AlphaToken, "alpha", [cluster.Http("app", "app.test")]);

        await Wait.UntilAsync(() => cluster["b"].ClusterRegistry!.Edges.TryGetValue("a", out var seen) && seen.Services.Contains("alpha/app"),
            "edge b sees that edge a holds a session for alpha/app");
        Assert.True(cluster["a"].ClusterRegistry!.Edges.ContainsKey("b"));

        // What warren status and the admin API show: every edge, the services each holds, Redis reached.
        var status = await cluster.Client.GetFromJsonAsync<JsonElement>($"http://127.0.0.1:{cluster["b"].AdminPort}/api/cluster");
        Assert.Equal("b", status.GetProperty("edge").GetString());
        Assert.Equal("connected", status.GetProperty("redis").GetString());
        var listed = status.GetProperty("edges").EnumerateArray().ToDictionary(e => e.GetProperty("name").GetString()!);
        Assert.Equal(["a", "b"], listed.Keys.Order());
        Assert.Equal(["alpha/app"], listed["a"].GetProperty("services").EnumerateArray().Select(x => x.GetString()));
        Assert.True(listed["b"].GetProperty("self").GetBoolean());
        using (var statusJson = await cluster.Client.GetAsync($"http://127.0.0.1:{cluster["b"].AdminPort}/api/status"))
        {
            using var document = JsonDocument.Parse(await statusJson.Content.ReadAsStringAsync());
            var text = Warren.Cli.Commands.StatusCommand.Render(document.RootElement);
            Assert.Contains("CLUSTER (this edge: b, Redis connected)", text, StringComparison.Ordinal);
            Assert.Contains("alpha/app", text, StringComparison.Ordinal);
        }

        await cluster.StopEdgeAsync("a");
        await Wait.UntilAsync(() => !cluster["b"].ClusterRegistry!.Edges.ContainsKey("a"), "edge b no longer lists the stopped edge a");
    }

    [Fact]
    public async Task A_ban_made_on_one_edge_is_refused_by_every_edge_and_a_lift_on_another_lifts_it_everywhere()
    {
        await using var cluster = await ClusterHarness.StartAsync(Log, ReservePort());
        await cluster.StartEdgeAsync("a");
        await cluster.StartEdgeAsync("b");
        await cluster.StartEdgeAsync("c");
        var scanner = IPAddress.Parse("192.0.2.7");

        using (var ban = await cluster.Client.PostAsJsonAsync($"http://127.0.0.1:{cluster["a"].AdminPort}/api/bans", new { address = "192.0.2.7", duration = "1h", reason = "scanner" }))
        {
            Assert.Equal(HttpStatusCode.Created, ban.StatusCode);
        }
        await Wait.UntilAsync(() => cluster["b"].Shield.IsBanned(scanner) && cluster["c"].Shield.IsBanned(scanner), "edges b and c refuse the address banned on a");
        Assert.Contains(cluster["b"].Shield.List(), b => b.Reason == "scanner");

        // An edge that joins later learns the bans in force from Redis.
        await cluster.StartEdgeAsync("d");
        Assert.True(cluster["d"].Shield.IsBanned(scanner), "an edge started after the ban refuses the address too");

        using (var lift = await cluster.Client.DeleteAsync($"http://127.0.0.1:{cluster["b"].AdminPort}/api/bans/192.0.2.7"))
        {
            Assert.Equal(HttpStatusCode.NoContent, lift.StatusCode);
        }
        await Wait.UntilAsync(() => !cluster["a"].Shield.IsBanned(scanner) && !cluster["c"].Shield.IsBanned(scanner) && !cluster["d"].Shield.IsBanned(scanner),
            "the lift on b reached a, c and d");
    }

    private async Task<ConnectionMultiplexer> ConnectAsync(RedisServer redis)
    {
        var options = ConfigurationOptions.Parse(redis.Configuration);
        options.AbortOnConnectFail = false;
        var connection = await ConnectionMultiplexer.ConnectAsync(options);
        Own(connection);
        return connection;
    }

    private sealed record Created(string Name, string Token);
}
