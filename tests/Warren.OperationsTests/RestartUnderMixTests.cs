using System.Globalization;
using System.Net;
using System.Net.Http;
using Warren.Agent;
using Warren.Agent.Connect;
using Warren.Configuration;
using Warren.OperationsTests.Harness;
using Xunit.Abstractions;

namespace Warren.OperationsTests;

/// <summary>
/// Issue 16's restarts under the full mix of real clients (<see cref="ClientMix"/>: an HTTP request loop, an SSH
/// session and ssh logins, pgbench with a connection per transaction, an MQTT QoS 1 subscriber and publisher), as an
/// operator restarts or upgrades (docs/operations.md, "Restarts and upgrades"): no request fails, no connection is
/// refused or reset, the long streams (SSH, MQTT) are closed cleanly at drain_timeout, and MQTT loses nothing.
/// </summary>
public sealed class RestartUnderMixTests(ITestOutputHelper output) : LoggedTest(output)
{
    /// <summary>
    /// Short, so the long streams are closed within the test, yet longer than an ssh login or a pgbench run takes on
    /// a loaded machine: one still running at the timeout is closed too (cleanly), and would count as a failed run.
    /// </summary>
    private const string DrainTimeout = "10s";

    private async Task<ClientMix> StartServersAsync(List<int> publicPorts)
    {
        publicPorts.AddRange([ReservePort(), ReservePort(), ReservePort()]);
        return Own(await ClientMix.StartServersAsync(Log, (ReservePort(), ReservePort(), ReservePort()), (publicPorts[0], publicPorts[1], publicPorts[2])));
    }

    [Fact]
    public async Task Agent_SIGTERM_then_a_new_process_under_the_mix_fails_no_request_refuses_no_connection_closes_long_streams_cleanly_and_loses_no_MQTT_message()
    {
        var ports = new List<int>();
        var mix = await StartServersAsync(ports);
        var tunnel = Own(await WarrenHarness.StartAsync(Log, new HarnessOptions
        {
            StartAgent = false,
            AllowPorts = ports,
            Services = h => mix.Services(h.BackendUri),
            // The gap between the old agent's exit and the new one's registration is a process start on a loaded machine.
            // No access log: thousands of lines would push the restart's out of the test's log.
            ConfigureEdge = c => c with { Grace = new GraceConfig { Timeout = TimeSpan.FromSeconds(60) }, AccessLog = new AccessLogConfig { Output = AccessLogConfig.Off } },
        }));
        var yaml = tunnel.WriteAgentYaml();
        await File.AppendAllTextAsync(yaml, $"drain_timeout: {DrainTimeout}\n");
        var first = Own(WarrenProcess.Start(Log, "agent#1", "agent", "--config", yaml));
        await tunnel.WaitUntilServedAsync("mqtt", TimeSpan.FromSeconds(60));
        await mix.StartClients(tunnel.Client, () => tunnel.Request(HttpMethod.Get, "/echo"));

        // As systemd restarts it: SIGTERM, the old process drains and exits, then the new one starts.
        await first.TerminateAsync();
        Assert.Equal(0, await first.WaitForExitAsync(TimeSpan.FromSeconds(60)));
        Own(WarrenProcess.Start(Log, "agent#2", "agent", "--config", yaml));

        await mix.AssertLongStreamsClosedCleanlyAsync();
        await mix.WaitForProgressAsync("after the restart");
        await mix.AssertNothingFailedAsync();
    }

    [Fact]
    public async Task Edge_upgrade_under_the_mix_and_warren_connect_refuses_no_connection_fails_no_request_closes_long_streams_cleanly_and_loses_no_MQTT_message()
    {
        var ports = new List<int>();
        var mix = await StartServersAsync(ports);
        var backends = Own(await WarrenHarness.StartAsync(Log, new HarnessOptions { StartAgent = false }));
        var laptopToken = WarrenHarness.NewToken();
        var data = TempDirectory();
        var yaml = Path.Combine(data, "edge.yaml");
        await File.WriteAllTextAsync(yaml, string.Create(CultureInfo.InvariantCulture, $"""
            listen:
              http: 127.0.0.1:0
              agents: 127.0.0.1:0
              admin: 127.0.0.1:0
              tcp_address: 127.0.0.1
            data: {data}
            drain_timeout: {DrainTimeout}
            grace:
              timeout: 60s
            access_log:
              output: off
            tokens:
              - name: tests
                token: {backends.Token}
                allow_hosts: ["*.test"]
                allow_ports: [{string.Join(", ", ports)}]
                allow_private: [private-echo]
              - name: laptop
                token: {laptopToken}
                allow_connect: [private-echo]
            """));
        var first = Own(await EdgeProcess.StartAsync(Log, "edge#1", yaml));
        // Besides the mix: a private TCP echo, reached through a warren connect client whose session moves to the new edge.
        var privateEcho = new ServiceConfig { Name = "private-echo", Target = new Uri($"tcp://127.0.0.1:{backends.TcpEcho.Port}"), Private = true };
        var agent = Own(new WarrenAgent(first.AgentConfig(backends.Token, [.. mix.Services(backends.BackendUri), privateEcho]), Log.Factory));
        agent.Start();
        await Wait.UntilAsync(() => agent.IsReady, "the agent is connected to the first edge", TimeSpan.FromSeconds(60));
        var connect = Own(new ConnectClient(new AgentConfig { Edge = $"127.0.0.1:{first.AgentsPort}", Token = laptopToken, EdgeFingerprint = first.Fingerprint, Name = "laptop" },
            "private-echo", new IPEndPoint(IPAddress.Loopback, 0), Log.Factory));
        await connect.StartAsync(CancellationToken.None);
        await using var connections = TcpLoop.Start(connect.LocalEndPoint!.Port, Log, workers: 1);
        await mix.StartClients(backends.Client, () => first.Request(HttpMethod.Get, "/echo"));
        await connections.WaitForMoreAsync(5, "warren connect carries connections before the upgrade");

        // The upgrade: a new edge on the same configuration takes the sockets over; the old one gets SIGTERM and drains.
        var second = Own(await EdgeProcess.StartAsync(Log, "edge#2", yaml));
        await first.Process.TerminateAsync();

        await mix.AssertLongStreamsClosedCleanlyAsync();
        Assert.Equal(0, await first.Process.WaitForExitAsync(TimeSpan.FromSeconds(60)));
        await Wait.UntilAsync(async () => (await second.StatusAsync()).Sessions.Length > 0, "the agent moved to the second edge", TimeSpan.FromSeconds(60));
        await mix.WaitForProgressAsync("after the upgrade");
        await connections.WaitForMoreAsync(5, "warren connect carries connections after the upgrade");
        await connections.DisposeAsync();
        await mix.AssertNothingFailedAsync();
        Assert.Empty(connections.Failures);
    }
}
