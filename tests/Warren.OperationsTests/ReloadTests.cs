using System.Net;
using System.Net.WebSockets;
using System.Text;
using Microsoft.AspNetCore.Http;
using Warren.Agent;
using Warren.Configuration;
using Warren.OperationsTests.Harness;
using Xunit.Abstractions;

namespace Warren.OperationsTests;

/// <summary>
/// Hot reload on both sides (docs/operations.md, "Reload"): only what changed is applied, over the live session;
/// what did not change is never touched; an invalid file is refused whole and the running configuration stays.
/// </summary>
public sealed class ReloadTests(ITestOutputHelper output) : LoggedTest(output)
{
    [Fact]
    public async Task Services_added_changed_and_removed_and_a_token_added_under_load_leave_untouched_HTTP_WebSocket_and_TCP_traffic_without_an_error()
    {
        var port = ReservePort();
        await using var v2 = await BackendHttpServer.StartAsync(context => context.Response.WriteAsync("v2"));
        await using var tunnel = await WarrenHarness.StartAsync(Log, new HarnessOptions { StartAgent = false, AllowPorts = [port] });
        var echo = new ServiceConfig { Name = "echo", Port = port, Target = new Uri($"tcp://127.0.0.1:{tunnel.TcpEcho.Port}") };
        IReadOnlyList<ServiceConfig> before =
        [
            tunnel.HttpService("app", WarrenHarness.AppHost), tunnel.HttpService("ws", "ws.test"), echo,
            tunnel.HttpService("changed", "changed.test"), tunnel.HttpService("gone", "gone.test"),
        ];
        var next = tunnel.AgentConfig(before);
        await using var agent = new WarrenAgent(next, Log.Factory, new WarrenAgentOptions { ReloadSource = () => next });
        agent.Start();
        await Wait.UntilAsync(() => agent.IsReady, "the agent registered its five services");
        var sessionsBefore = tunnel.Edge.State.Sessions.Select(s => s.Id).ToArray();

        using var timeout = new CancellationTokenSource(TestTimeout);
        await using var loop = RequestLoop.Start(tunnel.Client, () => tunnel.Request(HttpMethod.Get, "/echo"), Log);
        using var socket = new ClientWebSocket();
        socket.Options.SetRequestHeader("Host", "ws.test");
        await socket.ConnectAsync(new Uri($"ws://127.0.0.1:{tunnel.HttpPort}/ws"), timeout.Token);
        Assert.Equal("one", await socket.EchoAsync("one", timeout.Token));
        using var tcp = await EchoConnection.ConnectAsync(port, timeout.Token);
        Assert.Equal("one", await tcp.EchoAsync("one", timeout.Token));
        await loop.WaitForMoreAsync(20, "the load runs before the reloads");

        next = tunnel.AgentConfig(
        [
            tunnel.HttpService("app", WarrenHarness.AppHost), tunnel.HttpService("ws", "ws.test"), echo,
            tunnel.HttpService("changed", "changed.test", v2.Uri), tunnel.HttpService("added", "added.test"),
        ]);
        var agentResult = await agent.ReloadAsync();
        var otherToken = WarrenHarness.NewToken();
        var edgeResult = await tunnel.Edge.ReloadAsync(tunnel.EdgeConfig with
        {
            Tokens = [.. tunnel.EdgeConfig.Tokens, WarrenHarness.Grant("other", otherToken, ["other.test"])],
        });

        Assert.True(agentResult.Ok, agentResult.ToString());
        Assert.Equal(["services (registered again on 1 session(s)): added added; changed changed; removed gone"], agentResult.Applied);
        Assert.Empty(agentResult.RestartRequired);
        Assert.True(edgeResult.Ok, edgeResult.ToString());
        Assert.Equal(["tokens"], edgeResult.Applied);
        using (var added = await tunnel.GetAsync("/echo", "added.test"))
        {
            Assert.Equal(HttpStatusCode.OK, added.StatusCode);
        }
        using (var changed = await tunnel.GetAsync("/", "changed.test"))
        {
            Assert.Equal("v2", await changed.Content.ReadAsStringAsync());
        }
        using (var gone = await tunnel.GetAsync("/echo", "gone.test"))
        {
            Assert.Equal(HttpStatusCode.NotFound, gone.StatusCode);
        }
        await tunnel.StartOtherAgentAsync(otherToken, "other", [tunnel.HttpService("other", "other.test")]);
        using (var other = await tunnel.GetAsync("/echo", "other.test"))
        {
            Assert.Equal(HttpStatusCode.OK, other.StatusCode);
        }

        // The untouched ones: the same session (no reconnect), the same WebSocket and TCP connection, no failed request.
        Assert.Equal("two", await socket.EchoAsync("two", timeout.Token));
        Assert.Equal("two", await tcp.EchoAsync("two", timeout.Token));
        await loop.WaitForMoreAsync(20, "the load runs after the reloads");
        await loop.DisposeAsync();
        Assert.Empty(loop.Failures);
        Assert.Contains(sessionsBefore[0], tunnel.Edge.State.Sessions.Select(s => s.Id));
        Assert.Equal(0, agent.Reconnects);
    }

    [Fact]
    public async Task An_invalid_file_is_refused_whole_by_warren_reload_and_by_SIGHUP_with_its_line_and_traffic_goes_on()
    {
        await using var tunnel = await WarrenHarness.StartAsync(Log, new HarnessOptions { StartAgent = false });
        var data = TempDirectory();
        var edgeYaml = Path.Combine(data, "edge.yaml");
        var good = $"""
            listen:
              http: 127.0.0.1:0
              agents: 127.0.0.1:0
              admin: 127.0.0.1:0
            data: {data}
            tokens:
              - name: tests
                token: {tunnel.Token}
                allow_hosts: ["*.test"]
            """;
        await File.WriteAllTextAsync(edgeYaml, good);
        await using var edge = await EdgeProcess.StartAsync(Log, "edge", edgeYaml);
        var agentYaml = Path.Combine(data, "agent.yaml");
        var agentGood = $"""
            edge: 127.0.0.1:{edge.AgentsPort}
            token: {tunnel.Token}
            edge_fingerprint: {edge.Fingerprint}
            services:
              - name: app
                hostnames: ["{WarrenHarness.AppHost}"]
                target: {tunnel.BackendUri}
            """;
        await File.WriteAllTextAsync(agentYaml, agentGood);
        await using var agent = WarrenProcess.Start(Log, "agent", "agent", "--config", agentYaml);
        await Wait.UntilAsync(async () => (await edge.StatusAsync()).Sessions.Length == 1, "the agent process registered", TimeSpan.FromSeconds(60));

        await File.WriteAllTextAsync(edgeYaml, good + "\nlimits:\n  max_connections: 0\n");
        var refused = await WarrenProcess.RunAsync(["reload", "--admin", $"127.0.0.1:{edge.AdminPort}"], Log);
        Assert.Equal(1, refused.ExitCode);
        Assert.Contains($"{edgeYaml}:11", refused.StandardError, StringComparison.Ordinal);
        Assert.Contains("limits.max_connections", refused.StandardError, StringComparison.Ordinal);

        await File.WriteAllTextAsync(agentYaml, agentGood + "\n    max_concurrency: -1\n");
        await agent.HangUpAsync();
        await Wait.UntilAsync(() => agent.StandardOutput.Contains("reload refused", StringComparison.OrdinalIgnoreCase), "the agent logged the refusal");
        Assert.Contains("max_concurrency", agent.StandardOutput, StringComparison.Ordinal);
        Assert.False(agent.HasExited);

        using var request = edge.Request(HttpMethod.Get, "/echo");
        using var response = await tunnel.Client.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);

        // Fixed: the same command applies it, and says what needs a restart.
        await File.WriteAllTextAsync(edgeYaml, good.Replace("admin: 127.0.0.1:0", "admin: 127.0.0.1:1", StringComparison.Ordinal));
        var applied = await WarrenProcess.RunAsync(["reload", "--admin", $"127.0.0.1:{edge.AdminPort}"], Log);
        Assert.Equal(0, applied.ExitCode);
        Assert.Contains("needs a restart to change: listen.admin", applied.StandardOutput, StringComparison.Ordinal);
    }
}
