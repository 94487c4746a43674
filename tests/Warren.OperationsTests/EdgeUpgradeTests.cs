using System.Net;
using Warren.Agent;
using Warren.Configuration;
using Warren.OperationsTests.Harness;
using Xunit.Abstractions;

namespace Warren.OperationsTests;

/// <summary>
/// An edge upgraded the way docs/operations.md ("Upgrading the edge without refusing anyone") says: a new
/// <c>warren edge</c> process started with the same configuration while the old one runs takes its listening sockets
/// over, the old one drains (and gets SIGTERM too, as an operator or systemd would send), and the agent moves to the
/// new process on GOAWAY. Real processes, an HTTP request loop and a TCP connection loop throughout.
/// </summary>
public sealed partial class EdgeUpgradeTests(ITestOutputHelper output) : LoggedTest(output)
{
    [Fact]
    public async Task A_second_edge_process_takes_the_sockets_over_and_the_first_drains_with_no_refused_connection_no_failed_request_and_the_hostname_answering()
    {
        var port = ReservePort();
        await using var backends = await WarrenHarness.StartAsync(Log, new HarnessOptions { StartAgent = false });
        var yaml = await WriteEdgeYamlAsync(backends.Token, port);
        await using var first = await EdgeProcess.StartAsync(Log, "edge#1", yaml);
        var services = new List<ServiceConfig>
        {
            new() { Name = "app", Hostnames = [WarrenHarness.AppHost], Target = backends.BackendUri },
            new() { Name = "echo", Port = port, Target = new Uri($"tcp://127.0.0.1:{backends.TcpEcho.Port}") },
        };
        await using var agent = new WarrenAgent(first.AgentConfig(backends.Token, services), Log.Factory);
        agent.Start();
        await Wait.UntilAsync(() => agent.IsReady, "the agent is connected to the first edge");

        await using var requests = RequestLoop.Start(backends.Client, () => first.Request(HttpMethod.Get, "/echo"), Log);
        await using var connections = TcpLoop.Start(port, Log);
        await requests.WaitForMoreAsync(20, "requests are answered before the upgrade");
        await connections.WaitForMoreAsync(10, "connections are echoed before the upgrade");

        await using var second = await EdgeProcess.StartAsync(Log, "edge#2", yaml);
        // The same sockets: every port the same as the first edge's (their configuration says port 0).
        Assert.Equal((first.HttpPort, first.AgentsPort, first.AdminPort), (second.HttpPort, second.AgentsPort, second.AdminPort));
        await first.Process.TerminateAsync();
        Assert.Equal(0, await first.Process.WaitForExitAsync(TimeSpan.FromSeconds(60)));
        Assert.Contains("lets go of the listening sockets and drains", first.Process.StandardOutput, StringComparison.Ordinal);

        await Wait.UntilAsync(async () => (await second.StatusAsync()).Sessions.Length > 0, "the agent moved to the second edge");
        await requests.WaitForMoreAsync(20, "requests are answered after the upgrade");
        await connections.WaitForMoreAsync(10, "connections are echoed after the upgrade");
        await requests.DisposeAsync();
        await connections.DisposeAsync();

        Assert.Empty(requests.Failures);
        Assert.Empty(connections.Failures);
        using var after = await backends.Client.SendAsync(second.Request(HttpMethod.Get, "/echo"));
        Assert.Equal(HttpStatusCode.OK, after.StatusCode);
    }

    [Fact]
    public async Task SIGUSR2_starts_the_binary_again_which_takes_the_sockets_over_while_the_old_process_drains_and_exits()
    {
        await using var backends = await WarrenHarness.StartAsync(Log, new HarnessOptions { StartAgent = false });
        var yaml = await WriteEdgeYamlAsync(backends.Token);
        await using var edge = await EdgeProcess.StartAsync(Log, "edge", yaml);
        var service = new ServiceConfig { Name = "app", Hostnames = [WarrenHarness.AppHost], Target = backends.BackendUri };
        await using var agent = new WarrenAgent(edge.AgentConfig(backends.Token, [service]), Log.Factory);
        agent.Start();
        await Wait.UntilAsync(() => agent.IsReady, "the agent is connected to the edge");

        await edge.Process.SignalAsync("USR2");

        // The new process writes to the same output (as under journald); its pid is logged by the old one.
        await Wait.UntilAsync(() => StartedPid().IsMatch(edge.Process.StandardOutput), "the old edge started the new one", TimeSpan.FromSeconds(60));
        var successor = System.Diagnostics.Process.GetProcessById(int.Parse(StartedPid().Match(edge.Process.StandardOutput).Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture));
        OnEnd(() => successor.Kill(entireProcessTree: true));
        await Wait.UntilAsync(() => edge.Process.HasExited, "the old edge drained and exited", TimeSpan.FromSeconds(60));
        Assert.False(successor.HasExited, "the new edge runs on");
        Assert.Contains("lets go of the listening sockets and drains", edge.Process.StandardOutput, StringComparison.Ordinal);
        await Wait.UntilAsync(async () => (await edge.StatusAsync()).Sessions.Length > 0, "the agent is on the new edge (same admin port)");
        using var response = await backends.Client.SendAsync(edge.Request(HttpMethod.Get, "/echo"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    /// <summary>edge.yaml with loopback listeners on port 0, a fresh data folder, a grace of 60 s and the test's token (*.test, and <paramref name="port"/>).</summary>
    private async Task<string> WriteEdgeYamlAsync(string token, int? port = null)
    {
        var data = TempDirectory();
        var yaml = Path.Combine(data, "edge.yaml");
        await File.WriteAllTextAsync(yaml, $"""
            listen:
              http: 127.0.0.1:0
              agents: 127.0.0.1:0
              admin: 127.0.0.1:0
            data: {data}
            grace:
              timeout: 60s
            tokens:
              - name: tests
                token: {token}
                allow_hosts: ["*.test"]
                allow_ports: [{port}]
            """);
        return yaml;
    }

    [System.Text.RegularExpressions.GeneratedRegex(@"started a new edge, pid (\d+)")]
    private static partial System.Text.RegularExpressions.Regex StartedPid();
}
