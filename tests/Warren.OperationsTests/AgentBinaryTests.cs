using System.Net;
using Warren.Configuration;
using Warren.OperationsTests.Harness;
using Xunit.Abstractions;

namespace Warren.OperationsTests;

/// <summary>
/// `warren-agent` (src/Warren.AgentCli): the agent as a program of its own, compiled ahead of time and without the
/// admin listener (docs/operations.md, "The agent's own binary"). .ci/run runs these against the published native
/// binary (<see cref="WarrenProcess.AgentExecutableVariable"/>); elsewhere they run warren-agent.dll, the same code.
/// </summary>
public sealed class AgentBinaryTests(ITestOutputHelper output) : LoggedTest(output)
{
    [Fact]
    public async Task It_serves_HTTP_and_TCP_services_picks_up_a_new_service_on_SIGHUP_and_drains_on_SIGTERM()
    {
        Log.Note(WarrenProcess.AgentBinaryIsPublished ? "running the published warren-agent" : "running warren-agent.dll");
        var port = ReservePort();
        await using var tunnel = await WarrenHarness.StartAsync(Log, new HarnessOptions
        {
            StartAgent = false,
            AllowPorts = [port],
            Services = h => [h.HttpService("app", WarrenHarness.AppHost), new ServiceConfig { Name = "echo", Port = port, Target = new Uri($"tcp://127.0.0.1:{h.TcpEcho.Port}") }],
        });
        var yaml = tunnel.WriteAgentYaml();
        var agent = Own(WarrenProcess.StartAgentBinary(Log, "warren-agent", ["--config", yaml]));
        await tunnel.WaitUntilServedAsync("app", TimeSpan.FromSeconds(60));
        await tunnel.WaitUntilServedAsync("echo");
        // The native binary and the edge agree sealed records after TLS (docs/protocol.md §1.1).
        await Wait.UntilAsync(() => agent.StandardOutput.Contains("over sealed records", StringComparison.Ordinal), "the agent logged its link as sealed records");

        using (var response = await tunnel.GetAsync("/echo"))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }
        using var timeout = new CancellationTokenSource(TestTimeout);
        using (var connection = await EchoConnection.ConnectAsync(port, timeout.Token))
        {
            Assert.Equal("through the native agent", await connection.EchoAsync("through the native agent", timeout.Token));
        }

        // A service added to the file is published on SIGHUP, without a new session (the reload compares the
        // configurations through source-generated JSON, which is what the native binary has).
        await File.AppendAllTextAsync(yaml, $"  - name: second\n    hostnames: [\"second.test\"]\n    target: {tunnel.BackendUri}\n");
        await agent.HangUpAsync();
        await tunnel.WaitUntilServedAsync("second");
        // Logged once every session has the new registration, which can be just after the edge shows it.
        await Wait.UntilAsync(() => agent.StandardOutput.Contains("Configuration reloaded", StringComparison.Ordinal), "the agent logged the reload");
        using (var response = await tunnel.GetAsync("/echo", host: "second.test"))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }
        Assert.Single((await tunnel.StatusAsync()).Sessions);

        await agent.TerminateAsync();
        Assert.Equal(0, await agent.WaitForExitAsync(TimeSpan.FromSeconds(60)));
        Assert.Contains("draining", agent.StandardOutput, StringComparison.Ordinal);
        await tunnel.WaitUntilNoSessionAsync();
    }

    [Fact]
    public async Task An_admin_listener_in_its_config_is_refused_at_start_with_a_message_that_names_warren_agent()
    {
        await using var tunnel = await WarrenHarness.StartAsync(Log, new HarnessOptions { StartAgent = false });
        var yaml = tunnel.WriteAgentYaml();
        await File.AppendAllTextAsync(yaml, "admin: 127.0.0.1:0\n");

        await using var agent = WarrenProcess.StartAgentBinary(Log, "warren-agent", ["--config", yaml]);
        Assert.Equal(2, await agent.WaitForExitAsync(TimeSpan.FromSeconds(30)));
        Assert.Contains("admin: this agent binary (warren-agent) is built without the admin listener", agent.StandardError, StringComparison.Ordinal);
        Assert.Contains("`warren agent`", agent.StandardError, StringComparison.Ordinal);
        Assert.Empty((await tunnel.StatusAsync()).Sessions);
    }

    [Fact]
    public async Task It_has_no_admin_flag_and_says_so()
    {
        await using var tunnel = await WarrenHarness.StartAsync(Log, new HarnessOptions { StartAgent = false });
        var yaml = tunnel.WriteAgentYaml();

        await using var agent = WarrenProcess.StartAgentBinary(Log, "warren-agent", ["--config", yaml, "--admin", "127.0.0.1:0"]);
        Assert.NotEqual(0, await agent.WaitForExitAsync(TimeSpan.FromSeconds(30)));
        Assert.Contains("--admin", agent.StandardError, StringComparison.Ordinal);
        Assert.Empty((await tunnel.StatusAsync()).Sessions);
    }
}
