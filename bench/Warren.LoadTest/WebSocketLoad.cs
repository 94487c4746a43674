using System.Diagnostics;
using System.Globalization;
using System.Net.WebSockets;
using System.Text.Json;

namespace Warren.LoadTest;

/// <summary>
/// Opens --count WebSockets through the edge (all on the agent's one session), then each sends a 32-byte message
/// every --interval seconds for --duration seconds and times the echo. Reports open failures, echo p50/p99 and the
/// RSS of the --pids (edge,agent) before opening and at the peak while open, as one JSON line.
/// </summary>
internal static class WebSocketLoad
{
    public static async Task<int> RunAsync(Args args)
    {
        var port = args.Int("port", 18090);
        var host = args.Get("host", "ws.bench");
        var count = args.Int("count", 2000);
        var interval = TimeSpan.FromSeconds(args.Double("interval", 3));
        var duration = TimeSpan.FromSeconds(args.Double("duration", 30));
        var pids = args.Get("pids", "").Split(',', StringSplitOptions.RemoveEmptyEntries).Select(p => int.Parse(p, CultureInfo.InvariantCulture)).ToArray();
        var uri = new Uri($"ws://{host}:{port}{args.Get("path", "/ws")}");

        using var invoker = new HttpMessageInvoker(Loopback.Handler(port, args.Int("sources", 8)));
        var before = pids.Select(Proc.RssKb).ToArray();
        var sockets = new ClientWebSocket?[count];
        var openFailures = 0;
        string? firstError = null;
        var openClock = Stopwatch.StartNew();
        using (var gate = new SemaphoreSlim(64))
        {
            await Task.WhenAll(Enumerable.Range(0, count).Select(async i =>
            {
                await gate.WaitAsync();
                var socket = new ClientWebSocket();
                socket.Options.KeepAliveInterval = TimeSpan.Zero;
                try
                {
                    using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
                    await socket.ConnectAsync(uri, invoker, cts.Token);
                    sockets[i] = socket;
                }
                catch (Exception ex) when (ex is WebSocketException or OperationCanceledException or HttpRequestException)
                {
                    Interlocked.Increment(ref openFailures);
                    Interlocked.CompareExchange(ref firstError, ex.GetBaseException().Message, null);
                    socket.Dispose();
                }
                finally
                {
                    gate.Release();
                }
            }));
        }
        var openSeconds = openClock.Elapsed.TotalSeconds;
        var afterOpen = pids.Select(Proc.RssKb).ToArray();

        var peak = (long[])afterOpen.Clone();
        var rtts = new List<double>[count];
        var echoErrors = 0;
        var deadline = Stopwatch.StartNew();
        using var stopSampling = new CancellationTokenSource();
        var sampler = Task.Run(async () =>
        {
            while (!stopSampling.IsCancellationRequested)
            {
                for (var p = 0; p < pids.Length; p++)
                {
                    peak[p] = Math.Max(peak[p], Proc.RssKb(pids[p]));
                }
                try
                {
                    await Task.Delay(500, stopSampling.Token);
                }
                catch (OperationCanceledException)
                {
                }
            }
        });
        await Task.WhenAll(Enumerable.Range(0, count).Select(async i =>
        {
            var list = rtts[i] = [];
            if (sockets[i] is not { } socket)
            {
                return;
            }
            var message = new byte[32];
            var buffer = new byte[256];
            await Task.Delay(Random.Shared.Next((int)interval.TotalMilliseconds));
            try
            {
                while (deadline.Elapsed < duration)
                {
                    var sent = Stopwatch.GetTimestamp();
                    BitConverter.TryWriteBytes(message, sent);
                    await socket.SendAsync(message, WebSocketMessageType.Binary, true, CancellationToken.None);
                    var received = 0;
                    ValueWebSocketReceiveResult result;
                    do
                    {
                        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                        result = await socket.ReceiveAsync(buffer.AsMemory(received), cts.Token);
                        received += result.Count;
                    }
                    while (!result.EndOfMessage && result.MessageType != WebSocketMessageType.Close);
                    if (result.MessageType == WebSocketMessageType.Close || received != message.Length)
                    {
                        Interlocked.Increment(ref echoErrors);
                        return;
                    }
                    var rtt = Stopwatch.GetElapsedTime(sent);
                    list.Add(rtt.TotalMilliseconds);
                    var wait = interval - rtt;
                    if (wait > TimeSpan.Zero)
                    {
                        await Task.Delay(wait);
                    }
                }
            }
            catch (Exception ex) when (ex is WebSocketException or OperationCanceledException or IOException)
            {
                Interlocked.Increment(ref echoErrors);
                Interlocked.CompareExchange(ref firstError, ex.GetBaseException().Message, null);
            }
        }));
        await stopSampling.CancelAsync();
        await sampler;
        foreach (var socket in sockets)
        {
            socket?.Abort();
            socket?.Dispose();
        }

        var all = rtts.SelectMany(l => l).Order().ToArray();
        var opened = count - openFailures;
        var record = new Dictionary<string, object?>
        {
            ["kind"] = "ws",
            ["count"] = count,
            ["opened"] = opened,
            ["open_failed"] = openFailures,
            ["open_seconds"] = Math.Round(openSeconds, 2),
            ["interval_s"] = interval.TotalSeconds,
            ["duration_s"] = duration.TotalSeconds,
            ["echoes"] = all.Length,
            ["echo_errors"] = echoErrors,
            ["p50_ms"] = Math.Round(Percentile(all, 0.50), 3),
            ["p99_ms"] = Math.Round(Percentile(all, 0.99), 3),
            ["max_ms"] = all.Length == 0 ? 0 : Math.Round(all[^1], 3),
            ["rss_before_kb"] = before,
            ["rss_open_kb"] = afterOpen,
            ["rss_peak_kb"] = peak,
            ["first_error"] = firstError,
        };
        Console.WriteLine(JsonSerializer.Serialize(record));
        return 0;
    }

    public static double Percentile(double[] sorted, double p) =>
        sorted.Length == 0 ? 0 : sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(p * sorted.Length) - 1)];
}
