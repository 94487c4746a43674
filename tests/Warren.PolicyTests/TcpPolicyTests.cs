using System.Net;
using System.Net.Sockets;
using Warren.Configuration;
using Xunit.Abstractions;

namespace Warren.PolicyTests;

/// <summary>TCP services (docs/policy.md, "TCP services"): ip lists, concurrent connections and connection rate per client IP.</summary>
public sealed class TcpPolicyTests(ITestOutputHelper output) : PolicyTest(output)
{
    private async Task<(WarrenHarness Harness, int Port)> StartTcpAsync(PolicyConfig policy)
    {
        var port = ReservePort();
        var harness = Own(await WarrenHarness.StartAsync(Log, new HarnessOptions
        {
            AllowPorts = [port],
            Services = h => [new ServiceConfig { Name = "echo", Port = port, Target = new Uri($"tcp://127.0.0.1:{h.TcpEcho.Port}"), Policy = policy }],
        }));
        return (harness, port);
    }

    /// <summary>Connects, sends a line and returns what came back; null when the edge closed or reset the connection.</summary>
    private static async Task<(Socket Socket, string? Echo)> EchoAsync(int port)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            // On loopback the edge's reset can land before the connect is seen complete: that too is a refusal.
            await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port), timeout.Token);
            await socket.SendAsync("ping\n"u8.ToArray(), SocketFlags.None, timeout.Token);
            var buffer = new byte[16];
            var read = await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token);
            return (socket, read == 0 ? null : System.Text.Encoding.ASCII.GetString(buffer, 0, read));
        }
        catch (SocketException)
        {
            return (socket, null);
        }
    }

    [Fact]
    public async Task Ip_deny_drops_the_connection_and_allow_lets_it_through()
    {
        var (_, deniedPort) = await StartTcpAsync(new PolicyConfig { Ip = new IpRulesConfig { Deny = ["127.0.0.1"] } });
        var (deniedSocket, deniedEcho) = await EchoAsync(deniedPort);
        deniedSocket.Dispose();
        Assert.Null(deniedEcho);

        var (_, allowedPort) = await StartTcpAsync(new PolicyConfig { Ip = new IpRulesConfig { Allow = ["127.0.0.0/8"] } });
        var (allowedSocket, allowedEcho) = await EchoAsync(allowedPort);
        allowedSocket.Dispose();
        Assert.Equal("ping\n", allowedEcho);
    }

    [Fact]
    public async Task Max_connections_per_ip_refuses_the_extra_connection_and_frees_the_slot_on_close()
    {
        var (_, port) = await StartTcpAsync(new PolicyConfig { MaxConnectionsPerIp = 2 });
        var (first, echo1) = await EchoAsync(port);
        var (second, echo2) = await EchoAsync(port);
        Assert.Equal("ping\n", echo1);
        Assert.Equal("ping\n", echo2);
        var (third, echo3) = await EchoAsync(port);
        third.Dispose();
        Assert.Null(echo3);

        first.Dispose();
        // The slot comes back once the edge has seen the close; until then a new connection may still be refused.
        await Wait.UntilAsync(async () =>
        {
            var (socket, echo) = await EchoAsync(port);
            using (socket)
            {
                return echo == "ping\n";
            }
        }, "a connection is accepted again after one closed", TimeSpan.FromSeconds(30));
        second.Dispose();
    }

    [Fact]
    public async Task Connection_rate_refuses_connections_past_the_rate()
    {
        var (_, port) = await StartTcpAsync(new PolicyConfig { ConnectionRate = new RateConfig { Requests = 2, Per = TimeSpan.FromHours(1) } });
        for (var i = 0; i < 2; i++)
        {
            var (socket, echo) = await EchoAsync(port);
            using (socket)
            {
                Assert.Equal("ping\n", echo);
            }
        }
        var (refused, none) = await EchoAsync(port);
        using (refused)
        {
            Assert.Null(none);
        }
    }
}
