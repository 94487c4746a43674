using System.Net.Sockets;
using System.Text;
using Xunit.Abstractions;

namespace Warren.OperationsTests;

/// <summary>
/// The <c>Type=notify</c> systemd units (deploy/systemd; docs/operations.md, "systemd"): the edge and the agent tell
/// the service manager on <c>NOTIFY_SOCKET</c> that they are ready, with their pid, once they serve, and that they are
/// stopping when a drain begins. The test is the service manager: a Unix datagram socket, as systemd's.
/// </summary>
public sealed class SystemdNotifyTests(ITestOutputHelper output) : LoggedTest(output)
{
    [Fact]
    public async Task The_edge_and_the_agent_say_READY_with_their_pid_once_they_serve_and_STOPPING_when_they_drain()
    {
        using var notify = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
        var path = Path.Combine(TempDirectory(), "notify");
        notify.Bind(new UnixDomainSocketEndPoint(path));
        var environment = new Dictionary<string, string> { ["NOTIFY_SOCKET"] = path };
        await using var tunnel = await WarrenHarness.StartAsync(Log, new HarnessOptions { StartAgent = false });
        using var timeout = new CancellationTokenSource(TestTimeout);

        var data = TempDirectory();
        await using var edge = await EdgeProcess.StartAsync(Log, "edge", await EdgeProcess.WriteConfigAsync(data, tunnel.Token), environment);
        Assert.Equal($"READY=1\nMAINPID={edge.Process.Id}", await ReceiveAsync(notify, timeout.Token));

        // The agent of the harness's edge (in this process); warren-agent in its place when .ci/run names it.
        await using var agent = WarrenProcess.Start(Log, "agent", ["agent", "--config", tunnel.WriteAgentYaml()], environment);
        Assert.Equal($"READY=1\nMAINPID={agent.Id}", await ReceiveAsync(notify, timeout.Token));
        await tunnel.WaitUntilServedAsync("app");

        await agent.TerminateAsync();
        Assert.Equal("STOPPING=1", await ReceiveAsync(notify, timeout.Token));
        Assert.Equal(0, await agent.WaitForExitAsync(TimeSpan.FromSeconds(60)));

        await edge.Process.TerminateAsync();
        Assert.Equal("STOPPING=1", await ReceiveAsync(notify, timeout.Token));
        Assert.Equal(0, await edge.Process.WaitForExitAsync(TimeSpan.FromSeconds(60)));
    }

    private static async Task<string> ReceiveAsync(Socket socket, CancellationToken cancellationToken)
    {
        var buffer = new byte[4096];
        var received = await socket.ReceiveAsync(buffer, SocketFlags.None, cancellationToken);
        return Encoding.UTF8.GetString(buffer, 0, received);
    }
}
