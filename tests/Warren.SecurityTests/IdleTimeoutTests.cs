using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using System.Net.WebSockets;
using Warren.Demo;
using Warren.Configuration;
using Warren.SecurityTests.Harness;
using Xunit.Abstractions;

namespace Warren.SecurityTests;

/// <summary>
/// limits.idle_timeout on upgraded connections: Kestrel's data rates stop at an upgrade, so a WebSocket or TCP
/// stream with no byte either way for that long is closed on both sides and counted (docs/security.md).
/// </summary>
public sealed class IdleTimeoutTests(ITestOutputHelper output) : SecurityTest(output)
{
    private static readonly TimeSpan Idle = TimeSpan.FromSeconds(2);

    [Fact]
    public async Task Idle_websocket_is_closed_on_both_sides_while_an_active_one_stays_open()
    {
        var token = WarrenHarness.NewToken();
        var edge = await StartEdgeAsync(new HarnessOptions
        {
            Limits = new EdgeLimitsConfig { IdleTimeout = Idle },
            ExtraTokens = [WarrenHarness.Grant("ws", token, ["ws.test"])],
        });
        // The service's response_timeout (100 s) is not what bounds an idle WebSocket any more.
        var agent = await edge.StartOtherAgentAsync(token, "ws-agent", [edge.HttpService("ws", "ws.test")]);
        var transfer = await StartTransferAsync(edge);

        using var active = await ConnectWebSocketAsync(edge);
        using var quiet = await ConnectWebSocketAsync(edge);
        await Wait.UntilAsync(() => agent.InFlight.GetValueOrDefault("ws") == 2, "both WebSockets to reach the backend", Wait.DefaultTimeout);
        var clock = Stopwatch.StartNew();
        var quietClosed = Task.Run(async () =>
        {
            try
            {
                // Nothing is sent: the edge must end it; ReceiveAsync ends when it does.
                await quiet.ReceiveAsync(new byte[16], CancellationToken.None);
            }
            catch (WebSocketException)
            {
            }
            return clock.Elapsed;
        });

        // The checks run between two exchanges, so the active connection is never left idle while they wait (a
        // stalled test process must not let it reach the idle timeout too and be counted a second time).
        var timeouts = 0.0;
        var echoes = await KeepActiveAsync(clock, async i =>
        {
            var message = BitConverter.GetBytes(i);
            await active.SendAsync(message, WebSocketMessageType.Binary, endOfMessage: true, CancellationToken.None);
            var buffer = new byte[16];
            var result = await active.ReceiveAsync(buffer, CancellationToken.None);
            Assert.Equal(message, buffer[..result.Count]);
        }, async () =>
            // The backend's side went too (the agent's slot freed), and the edge counted a timeout for the service.
            quietClosed.IsCompleted && agent.InFlight.GetValueOrDefault("ws") == 1
            && (timeouts = await edge.MetricAsync("warren_service_errors_total", "service=\"ws\"", "kind=\"timeout\"")) >= 1);

        var closedAfter = await quietClosed;
        Log.Note($"idle WebSocket closed after {closedAfter.TotalSeconds:0.00} s; the active one echoed {echoes} messages over {clock.Elapsed.TotalSeconds:0.0} s");
        Assert.True(closedAfter >= Idle - TimeSpan.FromMilliseconds(200), $"closed after {closedAfter}, before the idle timeout");
        Assert.Equal(1, timeouts);
        Assert.Equal(WebSocketState.Open, active.State);
        await active.CloseAsync(WebSocketCloseStatus.NormalClosure, "done", CancellationToken.None);

        await transfer.CompleteAsync();
        await AssertStillServesAsync(edge);
    }

    [Fact]
    public async Task Idle_tcp_stream_is_closed_on_both_sides_while_an_active_one_stays_open()
    {
        var echo = Own(new TcpEchoService());
        var port = ReservePort();
        var token = WarrenHarness.NewToken();
        var edge = await StartEdgeAsync(new HarnessOptions
        {
            Limits = new EdgeLimitsConfig { IdleTimeout = Idle },
            ExtraTokens = [WarrenHarness.Grant("tcp", token, [], [port])],
        });
        var agent = await edge.StartOtherAgentAsync(token, "tcp-agent", [new ServiceConfig { Name = "echo", Port = port, Target = new Uri($"tcp://127.0.0.1:{echo.Port}") }]);
        await Wait.UntilAsync(() => agent.IsReady, "the TCP service to register", Wait.DefaultTimeout);
        var transfer = await StartTransferAsync(edge);

        using var active = await RawHttp.ConnectAsync(port, null, CancellationToken.None);
        using var quiet = await RawHttp.ConnectAsync(port, null, CancellationToken.None);
        await using var activeStream = new NetworkStream(active, ownsSocket: false);
        await using var quietStream = new NetworkStream(quiet, ownsSocket: false);
        await Wait.UntilAsync(() => agent.InFlight.GetValueOrDefault("echo") == 2, "both connections to reach the backend", Wait.DefaultTimeout);
        var clock = Stopwatch.StartNew();
        var quietClosed = Task.Run(async () => (await RawHttp.ReadUntilClosedAsync(quietStream, clock, TimeSpan.FromSeconds(30))).Elapsed);

        var timeouts = 0.0;
        var echoes = await KeepActiveAsync(clock, async i =>
        {
            var message = BitConverter.GetBytes(i);
            await activeStream.WriteAsync(message);
            var buffer = new byte[message.Length];
            await activeStream.ReadExactlyAsync(buffer);
            Assert.Equal(message, buffer);
        }, async () =>
            // The idle stream's backend connection closed too, and the edge logged and counted the timeout (when the
            // connection's telemetry is disposed, just after the close).
            quietClosed.IsCompleted && agent.InFlight.GetValueOrDefault("echo") == 1 && Log.Matching("[TcpIdleTimeout]", "echo").Count > 0
            && (timeouts = await edge.MetricAsync("warren_service_errors_total", "service=\"echo\"", "kind=\"timeout\"")) >= 1);

        var closedAfter = await quietClosed;
        Log.Note($"idle TCP stream closed after {closedAfter.TotalSeconds:0.00} s; the active one echoed {echoes} messages over {clock.Elapsed.TotalSeconds:0.0} s");
        Assert.True(closedAfter >= Idle - TimeSpan.FromMilliseconds(200), $"closed after {closedAfter}, before the idle timeout");
        Assert.Equal(1, timeouts);
        // Still usable after all that.
        await activeStream.WriteAsync("bye"u8.ToArray());
        var bye = new byte[3];
        await activeStream.ReadExactlyAsync(bye);
        Assert.Equal("bye"u8.ToArray(), bye);

        await transfer.CompleteAsync();
        await AssertStillServesAsync(edge);
    }

    /// <summary>
    /// Exchanges a message every 300 ms (well inside the idle timeout) until at least three idle timeouts passed, so
    /// the active connection provably outlives several of them, and <paramref name="done"/> holds. That runs right
    /// after an exchange, so whatever it reads, it reads while the active connection has just been used. Each
    /// exchange's start and end go to the test's log: when the active connection is closed too, they tell a client
    /// that was not scheduled for the idle timeout (a loaded machine) from a connection the edge stopped carrying.
    /// </summary>
    private async Task<int> KeepActiveAsync(Stopwatch clock, Func<int, Task> exchange, Func<Task<bool>> done)
    {
        var deadline = TimeSpan.FromSeconds(60);
        for (var i = 0; ; i++)
        {
            Assert.True(clock.Elapsed < deadline, "the idle connection was never closed, or its close never counted");
            var started = clock.Elapsed;
            await exchange(i).WaitAsync(Wait.DefaultTimeout);
            Log.Note(string.Create(CultureInfo.InvariantCulture, $"exchange {i} on the active connection: {started.TotalSeconds:0.000} s to {clock.Elapsed.TotalSeconds:0.000} s"));
            if (clock.Elapsed >= 3 * Idle && await done())
            {
                return i + 1;
            }
            await Task.Delay(300); // paces the traffic; nothing waits on it
        }
    }

    private async Task<ClientWebSocket> ConnectWebSocketAsync(WarrenHarness edge)
    {
        var socket = new ClientWebSocket();
        socket.Options.SetRequestHeader("Host", "ws.test");
        socket.Options.KeepAliveInterval = TimeSpan.Zero; // no pings: idle means idle
        using var timeout = new CancellationTokenSource(Wait.DefaultTimeout);
        await socket.ConnectAsync(new Uri($"ws://127.0.0.1:{edge.HttpPort}/ws"), timeout.Token);
        return socket;
    }
}
