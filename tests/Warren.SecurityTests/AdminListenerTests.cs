using System.Net;
using System.Net.Http;
using System.Net.Http.Headers;
using Warren.Cli.Commands;
using Warren.Configuration;
using Warren.Edge;
using Warren.SecurityTests.Harness;
using Xunit.Abstractions;

namespace Warren.SecurityTests;

/// <summary>The admin listeners of edge and agent: loopback by default, a bearer token anywhere else (docs/security.md).</summary>
public sealed class AdminListenerTests(ITestOutputHelper output) : SecurityTest(output)
{
    private static readonly string AdminToken = "adm-" + WarrenHarness.NewToken();

    [Fact]
    public async Task Admin_listener_off_loopback_without_a_token_refuses_to_start()
    {
        Assert.StartsWith("127.0.0.1:", new ListenConfig().Admin, StringComparison.Ordinal);
        var data = TempDirectory();
        var config = WarrenHarness.LoopbackEdgeConfig(data, [WarrenHarness.Grant("t", WarrenHarness.NewToken(), ["t.test"])]);
        config = config with { Listen = config.Listen with { Admin = "0.0.0.0:0" } };

        // The validator refuses it, naming the key and the way out...
        var invalid = Assert.Throws<ConfigException>(() => ConfigLoader.ValidateEdge(config));
        var error = Assert.Single(invalid.Errors);
        Assert.Equal("listen.admin", error.Path);
        Assert.Contains("admin_token", error.Message, StringComparison.Ordinal);
        // ...so does the edge for a config built in code that skipped validation...
        var refused = await Assert.ThrowsAsync<InvalidOperationException>(() => EdgeServer.StartAsync(config, Log.Factory));
        Assert.Contains("admin_token", refused.Message, StringComparison.Ordinal);
        // ...and the binary exits non-zero saying why, before binding anything.
        var run = await WarrenProcess.RunAsync(["edge", "--http", "127.0.0.1:0", "--agents", "127.0.0.1:0", "--admin", "0.0.0.0:0", "--data", data], Log);
        Assert.NotEqual(0, run.ExitCode);
        Assert.Contains("listen.admin", run.StandardError, StringComparison.Ordinal);
        Assert.Contains("admin_token", run.StandardError, StringComparison.Ordinal);

        // The agent's admin listener follows the same rule.
        var agent = new AgentConfig { Edge = "127.0.0.1:7443", Token = WarrenHarness.NewToken(), Name = "a", Admin = "0.0.0.0:0" };
        var agentError = Assert.Single(Assert.Throws<ConfigException>(() => ConfigLoader.ValidateAgent(agent)).Errors);
        Assert.Equal("admin", agentError.Path);
        Assert.Contains("admin_token", agentError.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Admin_token_guards_status_and_metrics_on_edge_and_agent_while_probes_stay_open()
    {
        // Both bound to every interface, which the token allows; the test reaches them on loopback.
        var agentToken = WarrenHarness.NewToken();
        var edge = await StartEdgeAsync(new HarnessOptions
        {
            ExtraTokens = [WarrenHarness.Grant("admin-agent", agentToken, ["agent.test"])],
            ConfigureEdge = c => c with { AdminToken = AdminToken, Listen = c.Listen with { Admin = "0.0.0.0:0" } },
        });
        var transfer = await StartTransferAsync(edge);
        var agent = await edge.StartOtherAgentAsync(agentToken, "admin-agent", [edge.HttpService("web2", "agent.test")],
            configure: c => c with { Admin = "0.0.0.0:0", AdminToken = AdminToken });

        foreach (var (who, port) in new[] { ("edge", edge.Edge.AdminPort), ("agent", agent.AdminPort!.Value) })
        {
            foreach (var path in new[] { "/api/status", "/metrics" })
            {
                Assert.Equal(HttpStatusCode.Unauthorized, await GetAsync(edge, port, path, null));
                Assert.Equal(HttpStatusCode.Unauthorized, await GetAsync(edge, port, path, new AuthenticationHeaderValue("Bearer", AdminToken + "x")));
                Assert.Equal(HttpStatusCode.Unauthorized, await GetAsync(edge, port, path, new AuthenticationHeaderValue("Bearer", AdminToken[..^1])));
                Assert.Equal(HttpStatusCode.Unauthorized, await GetAsync(edge, port, path, new AuthenticationHeaderValue("Basic", AdminToken)));
                Assert.Equal(HttpStatusCode.OK, await GetAsync(edge, port, path, new AuthenticationHeaderValue("Bearer", AdminToken)));
            }
            // Load balancers and orchestrators probe without credentials; the probes say only "ok"/"ready".
            Assert.Equal(HttpStatusCode.OK, await GetAsync(edge, port, "/healthz", null));
            Assert.Equal(HttpStatusCode.OK, await GetAsync(edge, port, "/readyz", null));
            Log.Note($"{who} admin listener: 401 without the token, 200 with it, probes open");

            // warren status sends the token, and says what is missing without it.
            var stdout = new StringWriter();
            var stderr = new StringWriter();
            Assert.Equal(1, await StatusCommand.RunAsync($"127.0.0.1:{port}", null, stdout, stderr, CancellationToken.None));
            Assert.Contains("--admin-token", stderr.ToString(), StringComparison.Ordinal);
            Assert.Equal(1, await StatusCommand.RunAsync($"127.0.0.1:{port}", AdminToken + "x", stdout, stderr, CancellationToken.None));
            Assert.Contains("refused", stderr.ToString(), StringComparison.Ordinal);
            Assert.Equal(0, await StatusCommand.RunAsync($"127.0.0.1:{port}", AdminToken, stdout, stderr, CancellationToken.None));
            Assert.Contains(who == "edge" ? "web" : "web2", stdout.ToString(), StringComparison.Ordinal);
        }

        await transfer.CompleteAsync();
        await AssertStillServesAsync(edge);
    }

    private async Task<HttpStatusCode> GetAsync(WarrenHarness edge, int port, string path, AuthenticationHeaderValue? authorization)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, $"http://127.0.0.1:{port}{path}");
        request.Headers.Authorization = authorization;
        using var response = await Client.SendAsync(request);
        return response.StatusCode;
    }
}
