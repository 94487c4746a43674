using System.Net;
using System.Net.Http;
using Warren.Configuration;
using Warren.SecurityTests.Harness;
using Xunit.Abstractions;

namespace Warren.SecurityTests;

/// <summary>
/// HTTP/2 floods on the public HTTPS listener, written frame by frame over TLS (docs/security.md "HTTP/2"): rapid
/// reset (CVE-2023-44487), CONTINUATION floods (CVE-2024-27316 and kin) and HPACK bombs leave the edge healthy, and
/// another client's HTTP/2 requests, the legitimate transfer and the agent's session carry on throughout.
/// </summary>
public sealed class Http2AttackTests(ITestOutputHelper output) : SecurityTest(output)
{
    private const string Host = GoodHost;

    [Fact]
    public async Task Rapid_reset_leaves_the_edge_serving_others()
    {
        var (edge, certificate) = await StartHttpsEdgeAsync(new HarnessOptions());
        var session = Assert.Single(edge.Edge.State.Sessions);
        var transfer = await StartTransferAsync(edge);
        using var client = certificate.CreateHttp2Client(edge.Edge.HttpsPort!.Value);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await using var attacker = await RawHttp2.ConnectAsync(edge.Edge.HttpsPort!.Value, certificate, Host, cts.Token);

        var attack = Task.Run(async () =>
        {
            var headers = RawHttp2.RequestHeaders("/echo", Host);
            var pairs = 0;
            for (var stream = 1; pairs < 5000; pairs += 100)
            {
                var batch = new List<byte>();
                for (var i = 0; i < 100; i++, stream += 2)
                {
                    batch.AddRange(RawHttp2.Frame(RawHttp2.Headers, RawHttp2.EndHeaders | RawHttp2.EndStream, stream, headers));
                    batch.AddRange(RawHttp2.Frame(RawHttp2.RstStream, 0, stream, RawHttp2.RstStreamPayload(RawHttp2.Cancel)));
                }
                if (!await attacker.WriteAsync([.. batch], cts.Token))
                {
                    break;
                }
            }
            return pairs;
        });
        var served = await KeepRequestingAsync(client, attack);
        var sent = await attack;
        await Task.WhenAny(attacker.Closed, Task.Delay(TimeSpan.FromSeconds(2)));
        Log.Note($"rapid reset: {sent} HEADERS+RST pairs written; the edge sent {attacker.Responses} responses, {attacker.Resets} resets, GOAWAY {attacker.GoAwayCode}, closed {attacker.Closed.IsCompleted}; {served} requests of another client served");
        Log.Note("connection errors: " + string.Join("; ", await MetricLinesAsync(edge, "warren_edge_connection_errors_total")));

        // The edge ended the attacker's connection long before its 5,000 streams became requests.
        await Wait.WithTimeoutAsync(attacker.Closed, TimeSpan.FromSeconds(30), "the edge to close the rapid-reset connection");
        // Every request of it that entered the edge's pipeline has left it: nothing of Warren's waits on the cut connection.
        await Wait.UntilAsync(async () => (await MetricLinesAsync(edge, "warren_service_active_streams")).All(l => l.EndsWith(" 0", StringComparison.Ordinal)),
            "every request of the rapid-reset connection to leave the edge's pipeline", TimeSpan.FromSeconds(30));
        // Counted once Kestrel ends the connection. Kestrel (.NET 10) can lose a stream's last write on a connection it
        // cut for exceeding its HTTP/2 output queue: that connection then never ends, the GC collects it, and Kestrel
        // logs ApplicationNeverCompleted instead of recording it, so it is never counted (seen in 1 run of 8 with both
        // cores busy, every request having left Warren's pipeline as checked above). Either outcome ends the wait; the
        // collections let Kestrel's heartbeat notice a collected connection at once.
        var uncounted = "[ApplicationNeverCompleted]";
        await Wait.UntilAsync(async () =>
        {
            GC.Collect();
            return Log.Contains(uncounted)
                || (await MetricLinesAsync(edge, "warren_edge_connection_errors_total")).Any(l => l.Contains("listener=\"https\"", StringComparison.Ordinal));
        }, "the edge to count the rapid-reset connection as ended with an error", TimeSpan.FromSeconds(30));
        if (Log.Contains(uncounted))
        {
            Log.Note("Kestrel never ended the rapid-reset connection (ApplicationNeverCompleted): not counted");
        }
        var requests = (await MetricLinesAsync(edge, "warren_http_requests_total")).Sum(l => double.Parse(l[(l.LastIndexOf(' ') + 1)..], System.Globalization.CultureInfo.InvariantCulture));
        Log.Note($"requests the edge handled in all: {requests}");
        // About 200 on a quiet machine; on a loaded one more get in before Kestrel's limit trips (1,163 seen once in CI).
        // Without the cut all 5,000 would be handled.
        Assert.True(requests < 2500, $"the edge handled {requests} requests of the rapid-reset connection");
        Assert.True(served >= 1);
        Assert.Contains(session, edge.Edge.State.Sessions);
        Assert.False(session.Mux.Closing.IsCancellationRequested);
        await transfer.CompleteAsync();
        await AssertStillServesAsync(edge);
    }

    [Fact]
    public async Task Continuation_floods_are_cut_off_while_another_client_is_served()
    {
        var (edge, certificate) = await StartHttpsEdgeAsync(new HarnessOptions { Limits = new EdgeLimitsConfig { RequestHeadersTimeout = TimeSpan.FromSeconds(5) } });
        var session = Assert.Single(edge.Edge.State.Sessions);
        var transfer = await StartTransferAsync(edge);
        using var client = certificate.CreateHttp2Client(edge.Edge.HttpsPort!.Value);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));

        // Header data without end: HEADERS, then CONTINUATION frames of 16 KB literals, up to 16 MB.
        await using var full = await RawHttp2.ConnectAsync(edge.Edge.HttpsPort!.Value, certificate, Host, cts.Token);
        var fullAttack = Task.Run(async () =>
        {
            await full.WriteFrameAsync(RawHttp2.Headers, 0, 1, RawHttp2.RequestHeaders("/echo", Host), cts.Token);
            var frame = RawHttp2.Frame(RawHttp2.Continuation, 0, 1, RawHttp2.Literal("x-flood", new string('a', 16_000)));
            for (var i = 0; i < 1000 && !full.Closed.IsCompleted; i++)
            {
                if (!await full.WriteAsync(frame, cts.Token))
                {
                    break;
                }
            }
        });
        // Empty CONTINUATION frames cost the sender 9 bytes each and add nothing to the headers.
        await using var empty = await RawHttp2.ConnectAsync(edge.Edge.HttpsPort!.Value, certificate, Host, cts.Token);
        var emptyAttack = Task.Run(async () =>
        {
            await empty.WriteFrameAsync(RawHttp2.Headers, 0, 1, RawHttp2.RequestHeaders("/echo", Host), cts.Token);
            var frames = Enumerable.Repeat(RawHttp2.Frame(RawHttp2.Continuation, 0, 1, []), 1000).SelectMany(f => f).ToArray();
            while (!empty.Closed.IsCompleted && await empty.WriteAsync(frames, cts.Token))
            {
                await Task.Delay(10, cts.Token);
            }
        });
        var attacks = Task.WhenAll(fullAttack, emptyAttack, full.Closed, empty.Closed);
        var served = await KeepRequestingAsync(client, attacks);
        await Wait.WithTimeoutAsync(attacks, TimeSpan.FromSeconds(30), "the edge to close both CONTINUATION floods");
        Log.Note($"CONTINUATION floods: {full.BytesWritten} bytes of headers sent before GOAWAY {full.GoAwayCode}; {empty.BytesWritten} bytes of empty frames before GOAWAY {empty.GoAwayCode}; {served} requests of another client served");

        // Header data: a connection error (GOAWAY) at the 32 KiB limit on a request's headers. Empty frames: closed by the
        // edge, by the request headers timeout at the latest. No request came of either.
        Assert.NotNull(full.GoAwayCode);
        Assert.Equal(0, full.Responses + empty.Responses);
        await Wait.UntilAsync(async () => await edge.MetricAsync("warren_edge_connection_errors_total", "listener=\"https\"", "reason=\"max_request_headers_total_size_exceeded\"") >= 1,
            "the edge to count the oversized header block", TimeSpan.FromSeconds(30));
        Log.Note("connection errors: " + string.Join("; ", await MetricLinesAsync(edge, "warren_edge_connection_errors_total")));
        await AssertHealthyAsync(edge, session, transfer, client);
    }

    [Fact]
    public async Task Hpack_bombs_are_refused_while_another_client_is_served()
    {
        var (edge, certificate) = await StartHttpsEdgeAsync(new HarnessOptions());
        var session = Assert.Single(edge.Edge.State.Sessions);
        var transfer = await StartTransferAsync(edge);
        using var client = certificate.CreateHttp2Client(edge.Edge.HttpsPort!.Value);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));

        // A 4 KB header stored in the dynamic table, then referenced 4,000 times at one byte each: 16 MB decoded.
        await using var bomb = await RawHttp2.ConnectAsync(edge.Edge.HttpsPort!.Value, certificate, Host, cts.Token);
        var block = new List<byte>(RawHttp2.RequestHeaders("/echo", Host));
        block.AddRange(RawHttp2.LiteralIndexed("x-bomb", new string('b', 4000)));
        for (var i = 0; i < 4000; i++)
        {
            block.AddRange(RawHttp2.Indexed(62));
        }
        var frames = new List<byte>();
        for (var offset = 0; offset < block.Count; offset += 16_000)
        {
            var chunk = block.GetRange(offset, Math.Min(16_000, block.Count - offset)).ToArray();
            var last = offset + 16_000 >= block.Count;
            frames.AddRange(RawHttp2.Frame(offset == 0 ? RawHttp2.Headers : RawHttp2.Continuation, (byte)(last ? RawHttp2.EndHeaders | RawHttp2.EndStream : 0), 1, chunk));
        }
        await bomb.WriteAsync([.. frames], cts.Token);
        // A dynamic table larger than the 4 KB the edge allows.
        await using var table = await RawHttp2.ConnectAsync(edge.Edge.HttpsPort!.Value, certificate, Host, cts.Token);
        var resize = new List<byte>(RawHttp2.TableSizeUpdate(1 << 20));
        resize.AddRange(RawHttp2.RequestHeaders("/echo", Host));
        await table.WriteFrameAsync(RawHttp2.Headers, RawHttp2.EndHeaders | RawHttp2.EndStream, 1, resize.ToArray(), cts.Token);

        var refused = Task.WhenAll(Refused(bomb), Refused(table));
        var served = await KeepRequestingAsync(client, refused);
        await Wait.WithTimeoutAsync(refused, TimeSpan.FromSeconds(30), "the edge to refuse both HPACK bombs");
        Log.Note($"HPACK bombs: referenced entry -> GOAWAY {bomb.GoAwayCode}, resets {bomb.Resets}, responses {bomb.Responses}; oversized table -> GOAWAY {table.GoAwayCode}, resets {table.Resets}; {served} requests of another client served");
        Log.Note("connection errors: " + string.Join("; ", await MetricLinesAsync(edge, "warren_edge_connection_errors_total")));
        // The 16 MB of decoded headers never became a request: the connection was ended at the 32 KiB limit, and the
        // oversized table with COMPRESSION_ERROR (RFC 7541 §4.2).
        Assert.Equal(0, bomb.Responses + table.Responses);
        Assert.NotNull(bomb.GoAwayCode);
        Assert.Equal(0x9u, table.GoAwayCode);
        await AssertHealthyAsync(edge, session, transfer, client);
    }

    /// <summary>Completes when the edge refused the attacker's request: a reset, a GOAWAY, a (431) response, or a closed connection.</summary>
    private static async Task Refused(RawHttp2 attacker)
    {
        while (attacker.Resets.All == 0 && attacker.GoAwayCode is null && attacker.Responses == 0 && !attacker.Closed.IsCompleted)
        {
            await Task.Delay(20);
        }
    }

    private async Task AssertHealthyAsync(WarrenHarness edge, Warren.Edge.Agents.AgentSession session, PacedDownload transfer, HttpClient client)
    {
        Assert.Contains(session, edge.Edge.State.Sessions);
        Assert.False(session.Mux.Closing.IsCancellationRequested);
        using var response = await client.GetAsync(new Uri($"https://{Host}/echo"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        await transfer.CompleteAsync();
        await AssertStillServesAsync(edge);
    }

    /// <summary>An edge with an HTTPS listener serving a self-signed certificate for <see cref="Host"/>.</summary>
    private async Task<(WarrenHarness Edge, SelfSignedCertificate Certificate)> StartHttpsEdgeAsync(HarnessOptions options)
    {
        var certificate = SelfSignedCertificate.Write(TempDirectory(), Host);
        return (await StartEdgeAsync(certificate.Https(options)), certificate);
    }

    /// <summary>Every sample of one metric, as exposition lines (for the test's log).</summary>
    private static async Task<IReadOnlyList<string>> MetricLinesAsync(WarrenHarness edge, string name) =>
        [.. (await edge.MetricsTextAsync()).Split('\n').Where(l => l.StartsWith(name + "{", StringComparison.Ordinal))];

    private static async Task<int> KeepRequestingAsync(HttpClient client, Task until)
    {
        var served = 0;
        do
        {
            using var response = await client.GetAsync(new Uri($"https://{Host}/echo"));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal(HttpVersion.Version20, response.Version);
            served++;
            await Task.WhenAny(until, Task.Delay(50));
        }
        while (!until.IsCompleted || served < 5);
        return served;
    }
}
