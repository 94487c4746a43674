using System.Net;
using System.Net.Http;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Text;
using Warren.Configuration;
using Warren.FaultTests.Harness;
using Xunit;
using Xunit.Abstractions;

namespace Warren.FaultTests;

/// <summary>
/// Issue 12's burst: 1,000 clients through one agent drop at once, repeatedly. The edge resets every stream still
/// waiting for the agent's ACCEPT; the agent once counted each reset as abuse and ended the session with
/// ENHANCE_YOUR_CALM, cutting every service of the agent. An SSE stream, an SSH-like TCP stream and a WebSocket on
/// the same agent must carry on untouched, and the session must stay up.
/// </summary>
[Collection(ClientIsolatedCollection.Name)]
public sealed class ClientBurstTests(ITestOutputHelper output) : LoggedTest(output)
{
    private const int Clients = 1000;
    private const int Rounds = 3;

    [Fact]
    public async Task Thousand_clients_dropping_at_once_repeatedly_interrupt_no_long_stream_and_the_session_stays_up()
    {
        var tcpPort = ReservePort();
        await using var tunnel = await WarrenHarness.StartAsync(Log, new HarnessOptions
        {
            AllowPorts = [tcpPort],
            Services = h => [h.HttpService("app", WarrenHarness.AppHost), new ServiceConfig { Name = "ssh", Port = tcpPort, Target = new Uri($"tcp://127.0.0.1:{h.TcpEcho.Port}") }],
            // All 1,000 come from 127.0.0.1: let every one reach the agent, as 1,000 real clients would.
            Limits = new EdgeLimitsConfig { MaxRequestsPerIpPerService = 2 * Clients },
        });
        using var stop = new CancellationTokenSource();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(5));
        var session = Assert.Single(tunnel.Edge.State.Sessions);

        var sse = new Progress();
        var tcp = new Progress();
        var ws = new Progress();
        var longStreams = Task.WhenAll(
            Task.Run(() => ReadEventsAsync(tunnel, sse, stop.Token)),
            Task.Run(() => EchoTcpAsync(tcpPort, tcp, stop.Token)),
            Task.Run(() => EchoWebSocketAsync(tunnel, ws, stop.Token)));
        await Wait.UntilAsync(() => sse.Count > 0 && tcp.Count > 0 && ws.Count > 0, "the SSE, TCP and WebSocket streams to run");

        for (var round = 1; round <= Rounds; round++)
        {
            var sockets = new List<Socket>(Clients);
            try
            {
                var request = Encoding.ASCII.GetBytes($"GET /slow?ms=60000 HTTP/1.1\r\nHost: {WarrenHarness.AppHost}\r\n\r\n");
                for (var i = 0; i < Clients; i++)
                {
                    var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                    sockets.Add(socket);
                    await socket.ConnectAsync(IPAddress.Loopback, tunnel.HttpPort, timeout.Token);
                    await socket.SendAsync(request, SocketFlags.None, timeout.Token);
                }
                // Every request is in flight at the edge: the agent's 256 slots hold some, the rest wait for ACCEPT.
                await Wait.UntilAsync(async () => await tunnel.MetricAsync("warren_service_active_streams", "service=\"app\"") >= Clients,
                    $"round {round}: {Clients} requests in flight", TimeSpan.FromMinutes(2));
            }
            finally
            {
                // All at once, each with a reset (linger 0), as clients that crash or are killed.
                foreach (var socket in sockets)
                {
                    socket.LingerState = new LingerOption(true, 0);
                    socket.Dispose();
                }
            }
            var marks = (sse.Count, tcp.Count, ws.Count);
            await Wait.UntilAsync(async () => await tunnel.MetricAsync("warren_service_active_streams", "service=\"app\"") <= 2,
                $"round {round}: the edge to let go of the {Clients} requests (the SSE and WebSocket stay)", TimeSpan.FromMinutes(2));
            // The long streams still move after the burst.
            await Wait.UntilAsync(() => sse.Count > marks.Item1 + 2 && tcp.Count > marks.Item2 + 2 && ws.Count > marks.Item3 + 2,
                $"round {round}: the SSE, TCP and WebSocket streams to carry on");
            Log.Note($"round {round}: {Clients} clients dropped; sse={sse.Count} tcp={tcp.Count} ws={ws.Count}");
        }

        await stop.CancelAsync();
        await Wait.WithTimeoutAsync(longStreams, TimeSpan.FromSeconds(30), "the long streams to stop");
        Assert.Null(sse.Error);
        Assert.Null(tcp.Error);
        Assert.Null(ws.Error);
        Assert.Same(session, Assert.Single(tunnel.Edge.State.Sessions));
        Assert.True(session.IsUsable);
        Assert.DoesNotContain(Log.Lines, l => l.Contains("EnhanceYourCalm", StringComparison.Ordinal) || l.Contains("abuse budget", StringComparison.Ordinal));
    }

    /// <summary>How far a long stream got, and the first thing that broke it (null: nothing).</summary>
    private sealed class Progress
    {
        private int _count;

        public int Count => Volatile.Read(ref _count);

        public Exception? Error { get; set; }

        public void Step() => Interlocked.Increment(ref _count);
    }

    private static async Task ReadEventsAsync(WarrenHarness tunnel, Progress progress, CancellationToken stop)
    {
        try
        {
            using var request = tunnel.Request(HttpMethod.Get, "/stream?count=10000&intervalMs=50");
            using var response = await tunnel.Client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, stop);
            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(stop));
            while (await reader.ReadLineAsync(stop) is { } line)
            {
                if (line.StartsWith("data: ", StringComparison.Ordinal))
                {
                    progress.Step();
                }
            }
            progress.Error = new EndOfStreamException("the event stream ended");
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
        }
        catch (Exception ex)
        {
            progress.Error = ex;
        }
    }

    private static async Task EchoTcpAsync(int port, Progress progress, CancellationToken stop)
    {
        try
        {
            using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            await socket.ConnectAsync(IPAddress.Loopback, port, stop);
            var buffer = new byte[64];
            for (var i = 0; ; i++)
            {
                var line = Encoding.ASCII.GetBytes($"keystroke {i:00000}\n");
                await socket.SendAsync(line, SocketFlags.None, stop);
                for (var received = 0; received < line.Length;)
                {
                    var n = await socket.ReceiveAsync(buffer.AsMemory(received, line.Length - received), SocketFlags.None, stop);
                    if (n == 0)
                    {
                        throw new EndOfStreamException("the TCP stream ended");
                    }
                    received += n;
                }
                if (!buffer.AsSpan(0, line.Length).SequenceEqual(line))
                {
                    throw new InvalidDataException($"echo {i} came back as '{Encoding.ASCII.GetString(buffer, 0, line.Length)}'");
                }
                progress.Step();
                await Task.Delay(50, stop);
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
        }
        catch (Exception ex)
        {
            progress.Error = ex;
        }
    }

    private static async Task EchoWebSocketAsync(WarrenHarness tunnel, Progress progress, CancellationToken stop)
    {
        try
        {
            using var socket = new ClientWebSocket();
            socket.Options.SetRequestHeader("Host", WarrenHarness.AppHost);
            await socket.ConnectAsync(new Uri($"ws://127.0.0.1:{tunnel.HttpPort}/ws"), stop);
            var buffer = new byte[64];
            for (var i = 0; ; i++)
            {
                var message = Encoding.ASCII.GetBytes($"message {i}");
                await socket.SendAsync(message, WebSocketMessageType.Text, endOfMessage: true, stop);
                var result = await socket.ReceiveAsync(buffer, stop);
                if (result.MessageType == WebSocketMessageType.Close || !buffer.AsSpan(0, result.Count).SequenceEqual(message))
                {
                    throw new InvalidDataException($"message {i} came back as {result.MessageType} '{Encoding.ASCII.GetString(buffer, 0, result.Count)}'");
                }
                progress.Step();
                await Task.Delay(50, stop);
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
        }
        catch (Exception ex)
        {
            progress.Error = ex;
        }
    }
}
