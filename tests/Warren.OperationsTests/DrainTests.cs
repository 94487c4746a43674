using System.Net;
using System.Net.Sockets;
using Warren.Agent;
using Warren.Configuration;
using Warren.OperationsTests.Harness;
using Xunit.Abstractions;

namespace Warren.OperationsTests;

/// <summary>
/// What a drain looks like from outside (docs/operations.md, "Restarts and upgrades"): not ready from its first
/// moment, no new connection accepted only to be closed, in-flight work finishing, and drain_timeout bounding it.
/// </summary>
public sealed class DrainTests(ITestOutputHelper output) : LoggedTest(output)
{
    [Fact]
    public async Task Agent_readyz_answers_503_from_the_first_moment_of_its_drain_while_a_stream_still_runs()
    {
        await using var tunnel = await WarrenHarness.StartAsync(Log, new HarnessOptions
        {
            ConfigureAgent = c => c with { Admin = "127.0.0.1:0" },
        });
        var agent = tunnel.Agent!;
        using var ready = await tunnel.Client.GetAsync($"http://127.0.0.1:{agent.AdminPort}/readyz");
        Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
        // A slow request keeps the drain going.
        var slow = tunnel.GetAsync("/slow?ms=5000");
        await Wait.UntilAsync(() => agent.InFlight.GetValueOrDefault("app") > 0, "the slow request reached the backend");

        var draining = agent.StopAsync(TimeSpan.FromSeconds(60));
        using var during = await tunnel.Client.GetAsync($"http://127.0.0.1:{agent.AdminPort}/readyz");

        Assert.Equal(HttpStatusCode.ServiceUnavailable, during.StatusCode);
        Assert.False(draining.IsCompleted, "the drain still waits for the slow request");
        using var finished = await slow;
        Assert.Equal(HttpStatusCode.OK, finished.StatusCode);
        await draining;
    }

    [Fact]
    public async Task Edge_drain_refuses_new_TCP_connections_at_once_while_an_open_one_goes_on()
    {
        var port = ReservePort();
        await using var tunnel = await WarrenHarness.StartAsync(Log, new HarnessOptions
        {
            AllowPorts = [port],
            Services = h => [new ServiceConfig { Name = "echo", Port = port, Target = new Uri($"tcp://127.0.0.1:{h.TcpEcho.Port}") }],
        });
        using var timeout = new CancellationTokenSource(TestTimeout);
        using var open = await EchoConnection.ConnectAsync(port, timeout.Token);
        Assert.Equal("before", await open.EchoAsync("before", timeout.Token));
        Assert.True(await ReadyAsync(tunnel));

        var draining = tunnel.Edge.StopAsync(TimeSpan.FromSeconds(60));

        // Refused, not accepted and then closed (which a client sees as a server that answered nothing).
        var refused = await Assert.ThrowsAsync<SocketException>(() => EchoConnection.ConnectAsync(port, timeout.Token));
        Assert.Equal(SocketError.ConnectionRefused, refused.SocketErrorCode);
        Assert.False(await ReadyAsync(tunnel));
        Assert.Equal("during the drain", await open.EchoAsync("during the drain", timeout.Token));
        open.Dispose();
        await draining;
    }

    private static async Task<bool> ReadyAsync(WarrenHarness tunnel)
    {
        using var response = await tunnel.Client.GetAsync($"http://127.0.0.1:{tunnel.Edge.AdminPort}/readyz");
        return response.StatusCode == HttpStatusCode.OK;
    }

    [Fact]
    public async Task Edge_process_with_drain_timeout_2s_exits_after_SIGTERM_although_a_stream_never_ends()
    {
        await using var tunnel = await WarrenHarness.StartAsync(Log, new HarnessOptions { StartAgent = false });
        var data = TempDirectory();
        var yaml = Path.Combine(data, "edge.yaml");
        await File.WriteAllTextAsync(yaml, $"""
            listen:
              http: 127.0.0.1:0
              agents: 127.0.0.1:0
              admin: 127.0.0.1:0
            data: {data}
            drain_timeout: 2s
            tokens:
              - name: tests
                token: {tunnel.Token}
                allow_hosts: ["*.test"]
            """);
        await using var edge = await EdgeProcess.StartAsync(Log, "edge", yaml);
        var service = new ServiceConfig { Name = "app", Hostnames = [WarrenHarness.AppHost], Target = tunnel.BackendUri };
        await using var agent = new WarrenAgent(edge.AgentConfig(tunnel.Token, [service]), Log.Factory);
        agent.Start();
        await Wait.UntilAsync(() => agent.IsReady, "the agent is connected to the edge process");
        // An event stream of 10 minutes: only drain_timeout can end it.
        using var request = edge.Request(HttpMethod.Get, "/stream?count=1200&intervalMs=500");
        using var response = await tunnel.Client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = await response.Content.ReadAsStreamAsync();
        Assert.True(await body.ReadAsync(new byte[64]) > 0);

        await edge.Process.TerminateAsync();

        // The default drain_timeout (30 s) would still be holding it; 2 s lets it go well before this wait ends.
        Assert.Equal(0, await edge.Process.WaitForExitAsync(TimeSpan.FromSeconds(25)));
        Assert.Contains("drain_timeout", edge.Process.StandardOutput, StringComparison.Ordinal);
    }
}
