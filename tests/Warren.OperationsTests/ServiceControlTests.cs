using System.Net;
using System.Net.Http;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using Warren.Configuration;
using Warren.OperationsTests.Harness;
using Xunit.Abstractions;

namespace Warren.OperationsTests;

/// <summary>
/// Draining one service and maintenance mode through the admin API and the `warren` commands that call it
/// (docs/operations.md, "Draining a service and maintenance"), with real clients on HTTP, WebSocket and TCP.
/// </summary>
public sealed class ServiceControlTests(ITestOutputHelper output) : LoggedTest(output)
{
    private static readonly string AdminToken = WarrenHarness.NewToken();

    [Fact]
    public async Task Maintenance_answers_a_503_page_with_Retry_After_refuses_new_TCP_connections_keeps_open_ones_survives_a_kicked_session_and_ends_with_off()
    {
        var port = ReservePort();
        await using var tunnel = await StartAsync(port);
        using var timeout = new CancellationTokenSource(TestTimeout);
        using var open = await EchoConnection.ConnectAsync(port, timeout.Token);
        Assert.Equal("before", await open.EchoAsync("before", timeout.Token));

        var on = await WarrenAsync(tunnel, "maintenance", "app", "on", "--message", "Back at 3 <b>pm</b>", "--retry-after", "120");
        Assert.Equal(0, on.ExitCode);
        Assert.Contains("service app (token tests): maintenance", on.StandardOutput, StringComparison.Ordinal);
        Assert.Equal(0, (await WarrenAsync(tunnel, "maintenance", "echo", "on")).ExitCode);

        await AssertMaintenancePageAsync(tunnel);
        using (var plain = await tunnel.GetAsync("/echo"))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, plain.StatusCode);
            Assert.Contains("down for maintenance", await plain.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }
        await AssertTcpRefusedAsync(port, timeout.Token);
        Assert.Equal("during", await open.EchoAsync("during", timeout.Token));

        // `warren sessions` lists the agent; kicking it does not end maintenance: the hold is the service's, not the session's.
        var sessions = await WarrenAsync(tunnel, "sessions");
        Assert.Equal(0, sessions.ExitCode);
        var session = Assert.Single(tunnel.Edge.State.Sessions);
        Assert.Contains("test-agent", sessions.StandardOutput, StringComparison.Ordinal);
        var kick = await WarrenAsync(tunnel, "sessions", "kick", session.Id.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(0, kick.ExitCode);
        Assert.Contains($"session {session.Id} closed", kick.StandardOutput, StringComparison.Ordinal);
        Assert.NotEqual(0, (await WarrenAsync(tunnel, "sessions", "kick", session.Id.ToString(System.Globalization.CultureInfo.InvariantCulture))).ExitCode);
        await Wait.UntilAsync(() => tunnel.Edge.State.Sessions.Any(s => s.Id != session.Id && s.Services.Count == 2), "the kicked agent connected again");
        await AssertMaintenancePageAsync(tunnel);
        await AssertTcpRefusedAsync(port, timeout.Token);

        Assert.Equal(0, (await WarrenAsync(tunnel, "maintenance", "app", "off")).ExitCode);
        Assert.Equal(0, (await WarrenAsync(tunnel, "maintenance", "echo", "off")).ExitCode);
        var again = await WarrenAsync(tunnel, "maintenance", "app", "off");
        Assert.Equal(1, again.ExitCode);
        Assert.Contains("not in maintenance", again.StandardError, StringComparison.Ordinal);
        using (var served = await tunnel.GetAsync("/echo"))
        {
            Assert.Equal(HttpStatusCode.OK, served.StatusCode);
        }
        using var fresh = await EchoConnection.ConnectAsync(port, timeout.Token);
        Assert.Equal("after", await fresh.EchoAsync("after", timeout.Token));
    }

    [Fact]
    public async Task Drain_refuses_new_requests_and_TCP_connections_lets_an_open_WebSocket_and_TCP_connection_finish_then_warren_drain_reports_drained()
    {
        var port = ReservePort();
        await using var tunnel = await StartAsync(port);
        using var timeout = new CancellationTokenSource(TestTimeout);
        using var socket = new ClientWebSocket();
        socket.Options.SetRequestHeader("Host", WarrenHarness.AppHost);
        await socket.ConnectAsync(new Uri($"ws://127.0.0.1:{tunnel.HttpPort}/ws"), timeout.Token);
        Assert.Equal("one", await socket.EchoAsync("one", timeout.Token));
        var tcp = await EchoConnection.ConnectAsync(port, timeout.Token);
        Assert.Equal("one", await tcp.EchoAsync("one", timeout.Token));

        // `warren drain` waits (a process) until the service is drained; the TCP one is drained without waiting.
        await using var draining = WarrenProcess.Start(Log, "drain", "drain", "app", "--admin", $"127.0.0.1:{tunnel.Edge.AdminPort}", "--admin-token", AdminToken,
            "--retry-after", "30", "--timeout", "2m");
        var noWait = await WarrenAsync(tunnel, "drain", "echo", "--no-wait");
        Assert.Equal(0, noWait.ExitCode);
        Assert.Contains("service echo (token tests): draining, 1 open", noWait.StandardOutput, StringComparison.Ordinal);
        await Wait.UntilAsync(async () => (await ServiceAsync(tunnel, "app")).GetProperty("state").GetString() == "draining", "the drain of app began");

        using (var refused = await tunnel.GetAsync("/echo"))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
            Assert.Equal("30", refused.Headers.GetValues("Retry-After").Single());
        }
        await AssertTcpRefusedAsync(port, timeout.Token);
        Assert.Equal("two", await socket.EchoAsync("two", timeout.Token));
        Assert.Equal("two", await tcp.EchoAsync("two", timeout.Token));
        Assert.False(draining.HasExited, "warren drain waits while the WebSocket is open");
        Assert.Equal(1, (await ServiceAsync(tunnel, "app")).GetProperty("in_flight").GetInt64());

        await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "done", timeout.Token);
        Assert.Equal(0, await draining.WaitForExitAsync(TimeSpan.FromSeconds(60)));
        Assert.Contains("service app (token tests): drained, 0 open", draining.StandardOutput, StringComparison.Ordinal);
        tcp.Dispose();
        await Wait.UntilAsync(async () => (await ServiceAsync(tunnel, "echo")).GetProperty("state").GetString() == "drained", "the TCP service is drained");
        using (var still = await tunnel.GetAsync("/echo"))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, still.StatusCode);
        }

        var resumed = await WarrenAsync(tunnel, "drain", "app", "--resume");
        Assert.Equal(0, resumed.ExitCode);
        Assert.Contains("service app (token tests): active", resumed.StandardOutput, StringComparison.Ordinal);
        Assert.Equal(0, (await WarrenAsync(tunnel, "drain", "echo", "--resume")).ExitCode);
        using (var served = await tunnel.GetAsync("/echo"))
        {
            Assert.Equal(HttpStatusCode.OK, served.StatusCode);
        }
        using var fresh = await EchoConnection.ConnectAsync(port, timeout.Token);
        Assert.Equal("after", await fresh.EchoAsync("after", timeout.Token));
        var unknown = await WarrenAsync(tunnel, "drain", "nope", "--no-wait");
        Assert.Equal(1, unknown.ExitCode);
        Assert.Contains("no service named 'nope'", unknown.StandardError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Drain_with_a_drain_timeout_closes_an_open_WebSocket_and_TCP_connection_at_the_timeout_without_a_reset_and_the_services_are_drained()
    {
        var port = ReservePort();
        await using var tunnel = await StartAsync(port);
        using var timeout = new CancellationTokenSource(TestTimeout);
        using var socket = new ClientWebSocket();
        socket.Options.SetRequestHeader("Host", WarrenHarness.AppHost);
        await socket.ConnectAsync(new Uri($"ws://127.0.0.1:{tunnel.HttpPort}/ws"), timeout.Token);
        Assert.Equal("one", await socket.EchoAsync("one", timeout.Token));
        using var tcp = await EchoConnection.ConnectAsync(port, timeout.Token);
        Assert.Equal("one", await tcp.EchoAsync("one", timeout.Token));

        await using var draining = WarrenProcess.Start(Log, "drain", "drain", "app", "--admin", $"127.0.0.1:{tunnel.Edge.AdminPort}", "--admin-token", AdminToken,
            "--drain-timeout", "2", "--timeout", "2m");
        Assert.Equal(0, (await WarrenAsync(tunnel, "drain", "echo", "--no-wait", "--drain-timeout", "2")).ExitCode);

        // Neither client closes: the drain's timeout does. The TCP client reads a clean end of stream (a reset would throw).
        Assert.Equal("", await tcp.ReadToEndAsync(timeout.Token));
        var closed = await Record.ExceptionAsync(async () =>
        {
            var result = await socket.ReceiveAsync(new byte[64], timeout.Token);
            Assert.Equal(WebSocketMessageType.Close, result.MessageType);
        });
        Assert.True(closed is null or WebSocketException { WebSocketErrorCode: WebSocketError.ConnectionClosedPrematurely }, $"the WebSocket ended: {closed}");
        Assert.Equal(0, await draining.WaitForExitAsync(TimeSpan.FromSeconds(60)));
        Assert.Contains("service app (token tests): drained, 0 open", draining.StandardOutput, StringComparison.Ordinal);
        await Wait.UntilAsync(async () => (await ServiceAsync(tunnel, "echo")).GetProperty("state").GetString() == "drained", "the TCP service is drained");
        var badTimeout = await WarrenAsync(tunnel, "drain", "app", "--no-wait", "--drain-timeout", "-1");
        Assert.Equal(1, badTimeout.ExitCode);
        Assert.Contains("drain_timeout must be between 0 and 86400 seconds", badTimeout.StandardError, StringComparison.Ordinal);
    }

    private static async Task AssertMaintenancePageAsync(WarrenHarness tunnel)
    {
        using var request = tunnel.Request(HttpMethod.Get, "/echo");
        request.Headers.Accept.ParseAdd("text/html");
        using var page = await tunnel.Client.SendAsync(request);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, page.StatusCode);
        Assert.Equal("120", page.Headers.GetValues("Retry-After").Single());
        Assert.Equal("no-store", page.Headers.CacheControl?.ToString());
        Assert.Equal("text/html", page.Content.Headers.ContentType?.MediaType);
        var html = await page.Content.ReadAsStringAsync();
        Assert.Contains("app.test is down for maintenance", html, StringComparison.Ordinal);
        Assert.Contains("Back at 3 &lt;b&gt;pm&lt;/b&gt;", html, StringComparison.Ordinal);
    }

    /// <summary>A new connection is reset before any byte (as soon as the connect, or at the first read): the echo backend never answers it.</summary>
    private static async Task AssertTcpRefusedAsync(int port, CancellationToken cancellationToken)
    {
        var error = await Assert.ThrowsAsync<SocketException>(async () =>
        {
            using var refused = await EchoConnection.ConnectAsync(port, cancellationToken);
            await refused.EchoAsync("refused?", cancellationToken);
        });
        Assert.Equal(SocketError.ConnectionReset, error.SocketErrorCode);
    }

    private Task<WarrenHarness> StartAsync(int port) => WarrenHarness.StartAsync(Log, new HarnessOptions
    {
        AllowPorts = [port],
        ConfigureEdge = c => c with { AdminToken = AdminToken },
        Services = h => [h.HttpService("app", WarrenHarness.AppHost), new ServiceConfig { Name = "echo", Port = port, Target = new Uri($"tcp://127.0.0.1:{h.TcpEcho.Port}") }],
    });

    private Task<WarrenProcess.Result> WarrenAsync(WarrenHarness tunnel, params string[] arguments) =>
        WarrenProcess.RunAsync([.. arguments, "--admin", $"127.0.0.1:{tunnel.Edge.AdminPort}", "--admin-token", AdminToken], Log);

    private static async Task<JsonElement> ServiceAsync(WarrenHarness tunnel, string name)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, $"http://127.0.0.1:{tunnel.Edge.AdminPort}/api/services");
        request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", AdminToken);
        using var response = await tunnel.Client.SendAsync(request);
        response.EnsureSuccessStatusCode();
        return JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.EnumerateArray().Single(s => s.GetProperty("name").GetString() == name).Clone();
    }
}
