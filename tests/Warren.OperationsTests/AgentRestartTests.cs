using System.Net;
using Warren.Configuration;
using Warren.OperationsTests.Harness;
using Xunit.Abstractions;

namespace Warren.OperationsTests;

/// <summary>
/// An agent restarted the way systemd does it (SIGTERM, the old process drains and exits, then a new one starts)
/// under steady load: the edge's grace queue holds new requests and TCP connections until the new agent serves them
/// (docs/operations.md, "The grace queue"; "Restarts and upgrades").
/// </summary>
public sealed class AgentRestartTests(ITestOutputHelper output) : LoggedTest(output)
{
    [Fact]
    public async Task Agent_SIGTERM_then_a_new_process_fails_no_request_and_a_TCP_connection_made_in_between_waits_and_is_served()
    {
        var port = ReservePort();
        await using var tunnel = await WarrenHarness.StartAsync(Log, new HarnessOptions
        {
            StartAgent = false,
            AllowPorts = [port],
            Services = h => [h.HttpService("app", WarrenHarness.AppHost), new ServiceConfig { Name = "echo", Port = port, Target = new Uri($"tcp://127.0.0.1:{h.TcpEcho.Port}") }],
            // The gap between the old agent's exit and the new one's registration is a process start on a loaded machine.
            ConfigureEdge = c => c with { Grace = new GraceConfig { Timeout = TimeSpan.FromSeconds(60) } },
        });
        var yaml = tunnel.WriteAgentYaml();
        var first = Own(WarrenProcess.Start(Log, "agent#1", "agent", "--config", yaml));
        await tunnel.WaitUntilServedAsync("app", TimeSpan.FromSeconds(60));
        await using var loop = RequestLoop.Start(tunnel.Client, () => tunnel.Request(HttpMethod.Get, "/echo"), Log);
        await loop.WaitForMoreAsync(20, "the load runs before the restart");

        using var timeout = new CancellationTokenSource(TestTimeout);
        await first.TerminateAsync();
        Assert.Equal(0, await first.WaitForExitAsync(TimeSpan.FromSeconds(60)));
        await tunnel.WaitUntilNoSessionAsync();
        // Nobody serves the port now: the connection is accepted and waits in the grace queue, not refused.
        using var connection = await EchoConnection.ConnectAsync(port, timeout.Token);
        var echoed = connection.EchoAsync("made while no agent was up", timeout.Token);

        await using var second = WarrenProcess.Start(Log, "agent#2", "agent", "--config", yaml);
        Assert.Equal("made while no agent was up", await echoed);
        await loop.WaitForMoreAsync(20, "the load runs after the restart");
        await loop.DisposeAsync();

        Assert.Empty(loop.Failures);
        Assert.True(await tunnel.MetricAsync("warren_service_grace_waits_total", "service=\"app\"", "outcome=\"served\"") > 0,
            "requests waited in the grace queue and were served");
        Assert.True(await tunnel.MetricAsync("warren_service_grace_waits_total", "service=\"echo\"", "outcome=\"served\"") > 0);
    }
}
