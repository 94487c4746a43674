using System.Diagnostics;
using System.Net;
using System.Net.Http;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using Warren.Configuration;
using Warren.SecurityTests.Harness;
using Xunit.Abstractions;
using SessionOptions = Warren.Protocol.Session.SessionOptions;

namespace Warren.SecurityTests;

/// <summary>
/// Slow clients against one service (docs/security.md "Slow clients"): one address trickling uploads or reading
/// responses slowly must neither hold every slot of the service nor keep its own for long, while clients from other
/// addresses are served throughout. The service is given 8 slots and a queue that waits 5 minutes, so a client stuck
/// behind the attack would never be answered within the 30 s each request of the test allows; the edge's per-address
/// cap is lowered to 4 to keep the attack small (the default is 128 against the agent's default of 256 slots).
/// </summary>
public sealed class SlowClientTests(ITestOutputHelper output) : SecurityTest(output)
{
    private const string Host = "busy.test";
    private const int Slots = 8;
    private const int PerAddress = 4;
    private static readonly IPAddress Attacker = IPAddress.Parse("127.0.0.2");
    private static readonly IPAddress SlowButReal = IPAddress.Parse("127.0.0.3");

    [Fact]
    public async Task Uploads_trickled_at_300_bytes_a_second_are_cut_and_never_take_the_service_from_others()
    {
        // Data rates at their defaults (1 KiB/s after 5 s): the attack is the one from issue 12, 300 B/s per upload.
        var edge = await StartBusyEdgeAsync(new EdgeLimitsConfig { MaxRequestsPerIpPerService = PerAddress, RequestQueueTimeout = TimeSpan.FromSeconds(2) });
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(90));

        var tricklers = Enumerable.Range(0, 3 * Slots).Select(_ => Task.Run(() => TrickleUploadAsync(edge.HttpPort, stop.Token))).ToArray();
        var attack = Task.WhenAll(tricklers);
        var legitimate = KeepRequestingAsync(edge, attack);
        // A slow but real upload from a third address: 8 KB/s (a phone on a bad link), well above the minimum.
        var realUpload = Task.Run(() => PacedUploadAsync(edge.HttpPort, SlowButReal, bytes: 64 * 1024, perTick: 800, stop.Token));

        var outcomes = await Wait.WithTimeoutAsync(attack, TimeSpan.FromSeconds(60), "every trickled upload to be cut off");
        Log.Note("trickled uploads ended with: " + string.Join(", ", outcomes.GroupBy(o => o).Select(g => $"{g.Key} x{g.Count()}")));
        Assert.DoesNotContain("200", outcomes);
        var served = await legitimate;
        Log.Note($"{served} requests from another address were served during the attack");
        Assert.True(served >= 3, $"only {served} legitimate requests ran during the attack");
        var (status, body) = await Wait.WithTimeoutAsync(realUpload, TimeSpan.FromSeconds(60), "the slow but real upload");
        Assert.Equal(200, status);
        Assert.Equal($"{Convert.ToHexStringLower(SHA256.HashData(UploadBody(64 * 1024)))} {64 * 1024}", body.Trim());

        // Over the address's cap: 429 (counted per service); in flight: cut by the minimum request body rate.
        Assert.Contains("429", outcomes);
        Assert.True(await edge.MetricAsync("warren_service_rejected_total", "service=\"busy\"", "reason=\"per_ip_limit\"") >= 1);
        Assert.True(await edge.MetricAsync("warren_edge_connection_errors_total", "listener=\"http\"", "reason=\"min_request_body_data_rate\"") >= 1);
        await AssertStillServesAsync(edge);
    }

    [Fact]
    public async Task Slow_readers_from_one_address_are_cut_at_the_minimum_rate_and_never_take_the_service_from_others()
    {
        // A slow reader is cut once it has taken less than rate × time since it started, counting the bytes the edge's
        // and the kernel's buffers took at once: with 200 KB of buffers and the default 1 KiB/s that takes minutes, so
        // the test scales the minimum up to 64 KiB/s (and the grace down to 2 s); the "normal" reader reads at 4×.
        const int minimum = 64 * 1024;
        var edge = await StartBusyEdgeAsync(new EdgeLimitsConfig
        {
            MaxRequestsPerIpPerService = PerAddress,
            RequestQueueTimeout = TimeSpan.FromSeconds(2),
            MinResponseDataRate = minimum,
            DataRateGracePeriod = TimeSpan.FromSeconds(2),
        });
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(90));

        using var stopReading = CancellationTokenSource.CreateLinkedTokenSource(stop.Token);
        var readers = Enumerable.Range(0, 3 * Slots).Select(_ => Task.Run(() => SlowReadAsync(edge.HttpPort, stopReading.Token))).ToArray();
        var attack = Task.WhenAll(readers);
        var legitimate = KeepRequestingAsync(edge, attack);
        var normal = Task.Run(() => PacedDownloadAsync(edge.HttpPort, SlowButReal, 2 * 1024 * 1024, bytesPerSecond: 4 * minimum, stop.Token));

        // A reader learns of the cut only once it has drained what its kernel still holds (minutes at its pace): the
        // edge's count says when each was refused (429) or cut off (min_response_data_rate), and then the test stops.
        await Wait.UntilAsync(async () => await edge.MetricAsync("warren_service_rejected_total", "service=\"busy\"", "reason=\"per_ip_limit\"")
            + await edge.MetricAsync("warren_edge_connection_errors_total", "listener=\"http\"", "reason=\"min_response_data_rate\"") >= readers.Length,
            "every slow reader to be refused or cut off at the minimum rate", TimeSpan.FromSeconds(60));
        await stopReading.CancelAsync();
        var outcomes = await Wait.WithTimeoutAsync(attack, Wait.DefaultTimeout, "the slow readers to stop");
        Log.Note("slow readers ended with: " + string.Join(", ", outcomes.GroupBy(o => o).Select(g => $"{g.Key} x{g.Count()}")));
        Assert.DoesNotContain("complete", outcomes);
        var served = await legitimate;
        Log.Note($"{served} requests from another address were served during the attack");
        Assert.True(served >= 3, $"only {served} legitimate requests ran during the attack");
        Assert.Equal(2 * 1024 * 1024, await Wait.WithTimeoutAsync(normal, TimeSpan.FromSeconds(60), "the normal download"));

        Assert.True(await edge.MetricAsync("warren_service_rejected_total", "service=\"busy\"", "reason=\"per_ip_limit\"") >= 1);
        Assert.True(await edge.MetricAsync("warren_edge_connection_errors_total", "listener=\"http\"", "reason=\"min_response_data_rate\"") >= 1);
        await AssertStillServesAsync(edge);
    }

    /// <summary>An edge whose second agent serves <see cref="Host"/> with <see cref="Slots"/> slots and a 5-minute queue.</summary>
    private async Task<WarrenHarness> StartBusyEdgeAsync(EdgeLimitsConfig limits)
    {
        var token = WarrenHarness.NewToken();
        // The edge waits as long for the agent to accept a stream: nothing but the fix frees a request queued behind
        // the attack before the test gives up on it.
        var edge = await StartEdgeAsync(new HarnessOptions
        {
            Limits = limits,
            ExtraTokens = [WarrenHarness.Grant("busy", token, [Host])],
            EdgeSession = new SessionOptions { HandshakeTimeout = TimeSpan.FromSeconds(5), OpenTimeout = TimeSpan.FromMinutes(5) },
        });
        await edge.StartOtherAgentAsync(token, "busy-agent", [edge.HttpService("busy", Host) with { MaxConcurrency = Slots, QueueTimeout = TimeSpan.FromMinutes(5) }]);
        return edge;
    }

    /// <summary>Requests from 127.0.0.1 until <paramref name="until"/> ends; every one must succeed. Returns how many ran.</summary>
    private async Task<int> KeepRequestingAsync(WarrenHarness edge, Task until)
    {
        var served = 0;
        while (!until.IsCompleted)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, edge.Url("/echo"));
            request.Headers.Host = Host;
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            using var response = await Client.SendAsync(request, timeout.Token);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            served++;
            await Task.WhenAny(until, Task.Delay(200));
        }
        return served;
    }

    /// <summary>
    /// POST /sha256 announcing 1 MB and sending 30 bytes every 100 ms (300 B/s) until the edge answers or closes.
    /// Returns the status ("408", "429", ...) or "closed".
    /// </summary>
    private static async Task<string> TrickleUploadAsync(int port, CancellationToken cancellationToken)
    {
        using var socket = await RawHttp.ConnectAsync(port, Attacker, cancellationToken);
        await using var stream = new NetworkStream(socket, ownsSocket: false);
        await stream.WriteAsync(Encoding.ASCII.GetBytes($"POST /sha256 HTTP/1.1\r\nHost: {Host}\r\nContent-Length: 1000000\r\n\r\n"), cancellationToken);
        var answer = ReadStatusAsync(stream, cancellationToken);
        var chunk = new byte[30];
        try
        {
            while (!answer.IsCompleted)
            {
                await stream.WriteAsync(chunk, cancellationToken);
                await Task.WhenAny(answer, Task.Delay(100, cancellationToken));
            }
        }
        catch (IOException)
        {
            // the edge closed the connection
        }
        return await answer;
    }

    /// <summary>
    /// GET a 20 MB response and read 10 bytes every 100 ms. Returns the status when not 200, "cut" (closed early),
    /// "stopped" (the test stopped reading) or "complete".
    /// </summary>
    private static async Task<string> SlowReadAsync(int port, CancellationToken cancellationToken)
    {
        const long size = 20_000_000;
        using var socket = await RawHttp.ConnectAsync(port, Attacker, cancellationToken, RawHttp.LikeARealLink);
        await using var stream = new NetworkStream(socket, ownsSocket: false);
        await stream.WriteAsync(Encoding.ASCII.GetBytes($"GET /bytes/{size} HTTP/1.1\r\nHost: {Host}\r\n\r\n"), cancellationToken);
        var buffer = new byte[10];
        long received = 0;
        try
        {
            var head = await RawHttp.ReadHeadAsync(stream, cancellationToken);
            if (RawHttp.StatusOf(head) != 200)
            {
                return RawHttp.StatusOf(head).ToString(System.Globalization.CultureInfo.InvariantCulture);
            }
            while (received < size)
            {
                var n = await stream.ReadAsync(buffer, cancellationToken);
                if (n == 0)
                {
                    return "cut";
                }
                received += n;
                await Task.Delay(100, cancellationToken);
            }
        }
        catch (IOException)
        {
            return "cut";
        }
        catch (OperationCanceledException)
        {
            return "stopped";
        }
        return "complete";
    }

    /// <summary>A download read at <paramref name="bytesPerSecond"/> over a link-like socket from <paramref name="from"/>; returns the bytes checked.</summary>
    private static async Task<long> PacedDownloadAsync(int port, IPAddress from, long size, int bytesPerSecond, CancellationToken cancellationToken)
    {
        using var socket = await RawHttp.ConnectAsync(port, from, cancellationToken, RawHttp.LikeARealLink);
        await using var stream = new NetworkStream(socket, ownsSocket: false);
        await stream.WriteAsync(Encoding.ASCII.GetBytes($"GET /bytes/{size} HTTP/1.1\r\nHost: {Host}\r\nConnection: close\r\n\r\n"), cancellationToken);
        Assert.Equal(200, RawHttp.StatusOf(await RawHttp.ReadHeadAsync(stream, cancellationToken)));
        var buffer = new byte[bytesPerSecond / 10];
        var clock = Stopwatch.StartNew();
        long offset = 0;
        while (offset < size)
        {
            var n = await stream.ReadAsync(buffer.AsMemory(0, (int)Math.Min(buffer.Length, size - offset)), cancellationToken);
            Assert.True(n > 0, $"the normal download was cut after {offset} of {size} bytes");
            for (var i = 0; i < n; i++)
            {
                Assert.Equal((byte)((offset + i) % 251), buffer[i]);
            }
            offset += n;
            // Never faster than bytesPerSecond: wait until the clock catches up with what was read.
            var due = TimeSpan.FromSeconds((double)offset / bytesPerSecond) - clock.Elapsed;
            if (due > TimeSpan.Zero)
            {
                await Task.Delay(due, cancellationToken);
            }
        }
        return offset;
    }

    /// <summary>POST /sha256 from <paramref name="from"/>, <paramref name="perTick"/> bytes every 100 ms; returns the status and body.</summary>
    private static async Task<(int Status, string Body)> PacedUploadAsync(int port, IPAddress from, int bytes, int perTick, CancellationToken cancellationToken)
    {
        var body = UploadBody(bytes);
        using var socket = await RawHttp.ConnectAsync(port, from, cancellationToken);
        await using var stream = new NetworkStream(socket, ownsSocket: false);
        await stream.WriteAsync(Encoding.ASCII.GetBytes($"POST /sha256 HTTP/1.1\r\nHost: {Host}\r\nContent-Length: {bytes}\r\nConnection: close\r\n\r\n"), cancellationToken);
        var clock = Stopwatch.StartNew();
        for (var sent = 0; sent < bytes;)
        {
            var n = Math.Min(perTick, bytes - sent);
            await stream.WriteAsync(body.AsMemory(sent, n), cancellationToken);
            sent += n;
            var due = TimeSpan.FromMilliseconds(100.0 * sent / perTick) - clock.Elapsed;
            if (due > TimeSpan.Zero)
            {
                await Task.Delay(due, cancellationToken);
            }
        }
        var (_, received) = await RawHttp.ReadUntilClosedAsync(stream, Stopwatch.StartNew(), TimeSpan.FromSeconds(30));
        var split = received.IndexOf("\r\n\r\n", StringComparison.Ordinal);
        return (RawHttp.StatusOf(received), split < 0 ? "" : received[(split + 4)..]);
    }

    private static byte[] UploadBody(int bytes) => [.. Enumerable.Range(0, bytes).Select(i => (byte)(i % 253))];

    /// <summary>The status of the edge's answer, or "closed" when it closed or reset the connection without one.</summary>
    private static async Task<string> ReadStatusAsync(Stream stream, CancellationToken cancellationToken)
    {
        try
        {
            var status = RawHttp.StatusOf(await RawHttp.ReadHeadAsync(stream, cancellationToken));
            return status == 0 ? "closed" : status.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }
        catch (IOException)
        {
            return "closed";
        }
    }
}
