using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using Warren.Configuration;
using Xunit.Abstractions;

namespace Warren.FunctionalTests;

/// <summary>
/// Ends that are nobody's fault on the service's side: a client that hangs up, a WebSocket the client closes, an
/// agent that drains. None is a service error or a warning (docs/observability.md); the client's own abort is counted
/// on its own (warren_service_client_aborts_total).
/// </summary>
public sealed class ClientEndingTests(ITestOutputHelper output) : LoggedTest(output)
{
    [Fact]
    public async Task Client_that_hangs_up_before_the_answer_is_a_client_abort_not_a_service_error()
    {
        await using var tunnel = await WarrenHarness.StartAsync(Log);
        using (var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
        {
            await socket.ConnectAsync(IPAddress.Loopback, tunnel.HttpPort);
            await socket.SendAsync(Encoding.ASCII.GetBytes($"GET /slow?ms=60000 HTTP/1.1\r\nHost: {WarrenHarness.AppHost}\r\n\r\n"));
            await Wait.UntilAsync(async () => await tunnel.MetricAsync("warren_service_active_streams", "service=\"app\"") == 1, "the request to be in flight");
            socket.LingerState = new LingerOption(true, 0); // the client goes away: a reset
        }

        await Wait.UntilAsync(async () => await tunnel.MetricAsync("warren_service_client_aborts_total", "service=\"app\"") == 1, "the abort to be counted");
        await Log.WaitForAsync(Wait.DefaultTimeout, "[HttpAccess]", "/slow", " 499 ");
        Assert.Equal(0, await tunnel.MetricAsync("warren_service_errors_total", "service=\"app\""));
        Assert.Equal(1, await tunnel.MetricAsync("warren_http_requests_total", "service=\"app\"", "code=\"499\""));
        // It was logged as a warning with an invented status ("RequestCanceled -> 400").
        Assert.DoesNotContain(Log.Lines, IsWarning);
    }

    [Fact]
    public async Task TCP_client_that_resets_is_a_client_abort_not_a_service_error()
    {
        var edgePort = ReservePort();
        await using var tunnel = await WarrenHarness.StartAsync(Log, new HarnessOptions
        {
            AllowPorts = [edgePort],
            Services = h => [new ServiceConfig { Name = "echo", Port = edgePort, Target = new Uri($"tcp://127.0.0.1:{h.TcpEcho.Port}") }],
        });
        using var timeout = new CancellationTokenSource(TestTimeout);
        using (var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
        {
            await socket.ConnectAsync(IPAddress.Loopback, edgePort, timeout.Token);
            await socket.SendAsync(new byte[100], SocketFlags.None, timeout.Token);
            for (var echoed = 0; echoed < 100;)
            {
                var n = await socket.ReceiveAsync(new byte[100], SocketFlags.None, timeout.Token);
                Assert.True(n > 0, $"the echo ended after {echoed} of 100 bytes");
                echoed += n;
            }
            socket.LingerState = new LingerOption(true, 0); // the client goes away: a reset
        }

        // It was logged "ok", as if the connection had ended cleanly, and counted nowhere.
        await Log.WaitForAsync(Wait.DefaultTimeout, "[TcpAccess]", "echo TCP", " client_abort ");
        Assert.Equal(1, await tunnel.MetricAsync("warren_service_client_aborts_total", "service=\"echo\""));
        Assert.Equal(0, await tunnel.MetricAsync("warren_service_errors_total", "service=\"echo\""));
        Assert.DoesNotContain(Log.Lines, IsWarning);
    }

    [Fact]
    public async Task WebSocket_the_client_closes_then_hangs_up_ends_without_a_warning_or_an_error()
    {
        await using var tunnel = await WarrenHarness.StartAsync(Log);
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(IPAddress.Loopback, tunnel.HttpPort);
        var key = Convert.ToBase64String(RandomNumberGenerator.GetBytes(16));
        await socket.SendAsync(Encoding.ASCII.GetBytes($"GET /ws HTTP/1.1\r\nHost: {WarrenHarness.AppHost}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"));
        var head = await ReadHeadAsync(socket);
        Assert.StartsWith("HTTP/1.1 101", head, StringComparison.Ordinal);

        // A close frame (masked, status 1000), then FIN: what browsers and most clients do.
        byte[] mask = [1, 2, 3, 4];
        await socket.SendAsync(new byte[] { 0x88, 0x82, mask[0], mask[1], mask[2], mask[3], 0x03 ^ 1, 0xE8 ^ 2 });
        socket.Shutdown(SocketShutdown.Send);
        var buffer = new byte[1024];
        while (await socket.ReceiveAsync(buffer) > 0)
        {
        }

        await Log.WaitForAsync(Wait.DefaultTimeout, "[HttpAccess]", "/ws", " 101 ");
        Assert.Equal(0, await tunnel.MetricAsync("warren_service_errors_total", "service=\"app\""));
        Assert.Equal(0, await tunnel.MetricAsync("warren_service_client_aborts_total", "service=\"app\""));
        // It logged "forwarding failed (UpgradeResponseCanceled)" as a warning.
        Assert.DoesNotContain(Log.Lines, IsWarning);
    }

    [Fact]
    public async Task Agent_that_drains_and_leaves_is_no_warning_on_the_edge()
    {
        await using var tunnel = await WarrenHarness.StartAsync(Log);
        Assert.Equal(HttpStatusCode.OK, (await tunnel.GetAsync("/echo")).StatusCode);

        await tunnel.Agent!.StopAsync(TimeSpan.FromSeconds(10));

        await Log.WaitForAsync(Wait.DefaultTimeout, "[AgentDisconnected]", "drained");
        // The control stream ending with its session was a warning ("control channel failed: The operation was canceled").
        Assert.DoesNotContain(Log.Lines, IsWarning);
    }

    /// <summary>
    /// A warning line, other than ASP.NET's data-protection notice when the edge starts (about the policies' key
    /// store, Policy/PrivateXmlRepository.cs), which no request or agent causes.
    /// </summary>
    private static bool IsWarning(string line) =>
        line.Contains(" warn ", StringComparison.Ordinal) && !line.Contains(" warn Microsoft.AspNetCore.DataProtection.", StringComparison.Ordinal);

    private static async Task<string> ReadHeadAsync(Socket socket)
    {
        var head = new StringBuilder();
        var one = new byte[1];
        using var timeout = new CancellationTokenSource(Wait.DefaultTimeout);
        while (!head.ToString().EndsWith("\r\n\r\n", StringComparison.Ordinal) && await socket.ReceiveAsync(one, SocketFlags.None, timeout.Token) == 1)
        {
            head.Append((char)one[0]);
        }
        return head.ToString();
    }
}
