using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Warren.Configuration;
using Warren.SecurityTests.Harness;
using Xunit.Abstractions;

namespace Warren.SecurityTests;

/// <summary>Hostile public clients: Kestrel's limits, no open proxy, edge-owned X-Forwarded-* (docs/security.md).</summary>
public sealed class PublicSideTests(ITestOutputHelper output) : SecurityTest(output)
{
    [Fact]
    public async Task Oversized_request_headers_get_431()
    {
        var edge = await StartEdgeAsync();
        var transfer = await StartTransferAsync(edge);

        var (status, _) = await GetAsync(edge, GoodHost, "/echo", r => r.Headers.TryAddWithoutValidation("X-Big", new string('a', 33 * 1024)));
        Assert.Equal(HttpStatusCode.RequestHeaderFieldsTooLarge, status);
        // Spread over many headers it is the same limit (32 KiB in total).
        (status, _) = await GetAsync(edge, GoodHost, "/echo", r =>
        {
            for (var i = 0; i < 40; i++)
            {
                r.Headers.TryAddWithoutValidation($"X-Part-{i}", new string('b', 1024));
            }
        });
        Assert.Equal(HttpStatusCode.RequestHeaderFieldsTooLarge, status);

        await transfer.CompleteAsync();
        await AssertStillServesAsync(edge);
    }

    [Fact]
    public async Task Slowloris_client_is_cut_off_by_the_request_headers_timeout()
    {
        var timeout = TimeSpan.FromSeconds(2);
        var edge = await StartEdgeAsync(new HarnessOptions { Limits = new EdgeLimitsConfig { RequestHeadersTimeout = timeout } });
        var transfer = await StartTransferAsync(edge);

        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(IPAddress.Loopback, edge.HttpPort);
        await using var stream = new NetworkStream(socket, ownsSocket: false);
        var clock = Stopwatch.StartNew();
        using var stop = new CancellationTokenSource();
        // A valid request, one byte a second: it would take over a minute to finish.
        var bytes = Encoding.ASCII.GetBytes($"GET /echo HTTP/1.1\r\nHost: {GoodHost}\r\nX-Slow: {new string('s', 40)}\r\n\r\n");
        var trickle = Task.Run(async () =>
        {
            var sent = 0;
            try
            {
                foreach (var b in bytes)
                {
                    await stream.WriteAsync(new[] { b }, stop.Token);
                    sent++;
                    await Task.Delay(1000, stop.Token);
                }
            }
            catch (Exception ex) when (ex is IOException or OperationCanceledException or ObjectDisposedException)
            {
            }
            return sent;
        });
        var (elapsed, received) = await RawHttp.ReadUntilClosedAsync(stream, clock, Wait.DefaultTimeout);
        await stop.CancelAsync();
        var sent = await trickle;
        Log.Note($"slowloris connection closed after {elapsed.TotalSeconds:0.00} s and {sent} bytes; edge sent: {received.Split('\r')[0]}");
        // Kestrel checks once a second and adds that second to the limit: never before the limit, and the request was
        // cut off, not completed (how long after the limit depends on the machine's load, so that is not asserted).
        Assert.True(elapsed >= timeout - TimeSpan.FromMilliseconds(500), $"closed after {elapsed.TotalSeconds:0.00} s, before the {timeout.TotalSeconds} s limit");
        Assert.True(sent < bytes.Length, $"the whole request ({bytes.Length} bytes) went out before the edge cut it off");
        Assert.True(received.Length == 0 || RawHttp.StatusOf(received) == 408, $"unexpected answer: {received}");

        await transfer.CompleteAsync();
        await AssertStillServesAsync(edge);
    }

    [Fact]
    public async Task Connect_and_absolute_form_requests_for_foreign_hosts_are_not_proxied()
    {
        var edge = await StartEdgeAsync();
        var transfer = await StartTransferAsync(edge);
        var target = $"127.0.0.1:{edge.Backend.Port}"; // a real, reachable address: a proxy would get there

        var connect = await RawHttp.SendAsync(edge.HttpPort, $"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n");
        Assert.Equal(405, RawHttp.StatusOf(connect));
        await Log.WaitForAsync(Wait.DefaultTimeout, "[ProxyRefused]", "CONNECT");

        var absolute = await RawHttp.SendAsync(edge.HttpPort, $"GET http://{target}/echo HTTP/1.1\r\nHost: {target}\r\nConnection: close\r\n\r\n");
        Assert.Equal(404, RawHttp.StatusOf(absolute));
        var foreign = await RawHttp.SendAsync(edge.HttpPort, "GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n");
        Assert.Equal(404, RawHttp.StatusOf(foreign));
        // Absolute-form naming one host with a Host header naming a routed one: Kestrel refuses the mismatch.
        var mixed = await RawHttp.SendAsync(edge.HttpPort, $"GET http://{target}/echo HTTP/1.1\r\nHost: {GoodHost}\r\nConnection: close\r\n\r\n");
        Assert.Equal(400, RawHttp.StatusOf(mixed));
        // A Host that matches no route is 404: there is no default route.
        Assert.Equal(HttpStatusCode.NotFound, (await GetAsync(edge, "localhost", "/echo")).Status);
        Assert.Equal(HttpStatusCode.NotFound, (await GetAsync(edge, "127.0.0.1", "/echo")).Status);

        await transfer.CompleteAsync();
        await AssertStillServesAsync(edge);
    }

    [Fact]
    public async Task Forged_forwarding_headers_are_replaced_by_the_edge()
    {
        var edge = await StartEdgeAsync();
        var transfer = await StartTransferAsync(edge);

        var (status, echo) = await GetAsync(edge, GoodHost, "/echo", r =>
        {
            r.Headers.TryAddWithoutValidation("X-Forwarded-For", "6.6.6.6");
            r.Headers.TryAddWithoutValidation("X-Forwarded-Proto", "https");
            r.Headers.TryAddWithoutValidation("X-Forwarded-Host", "evil.example");
            r.Headers.TryAddWithoutValidation("X-Forwarded-Prefix", "/evil");
            r.Headers.TryAddWithoutValidation("Forwarded", "for=6.6.6.6;host=evil.example;proto=https");
            r.Headers.TryAddWithoutValidation("X-Real-IP", "6.6.6.6"); // reached the backend as sent
        });
        Log.Note("backend saw:\n" + echo);
        Assert.Equal(HttpStatusCode.OK, status);
        var headers = echo.Split('\n').Where(l => l.Contains(": ", StringComparison.Ordinal)).ToArray();
        Assert.Contains("X-Forwarded-For: 127.0.0.1", headers);
        Assert.Contains("X-Real-IP: 127.0.0.1", headers);
        Assert.Contains("X-Forwarded-Proto: http", headers);
        Assert.Contains($"X-Forwarded-Host: {GoodHost}", headers);
        Assert.DoesNotContain(headers, h => h.Contains("6.6.6.6", StringComparison.Ordinal) || h.Contains("evil", StringComparison.Ordinal));
        Assert.DoesNotContain(headers, h => h.StartsWith("Forwarded:", StringComparison.OrdinalIgnoreCase));

        await transfer.CompleteAsync();
        await AssertStillServesAsync(edge);
    }

    [Fact]
    public async Task Forwarding_headers_from_a_trusted_proxy_are_kept_and_appended_to_and_from_others_replaced()
    {
        // The proxy in front of the edge is 127.0.0.2; the test's own client (127.0.0.1) is an ordinary client.
        var edge = await StartEdgeAsync(new HarnessOptions { ConfigureEdge = c => c with { TrustedProxies = ["10.0.0.0/8", "127.0.0.2"] } });
        var transfer = await StartTransferAsync(edge);
        const string forwarded = "X-Forwarded-For: 203.0.113.7\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: www.example.org\r\n";
        var request = $"GET /echo HTTP/1.1\r\nHost: {GoodHost}\r\n{forwarded}Connection: close\r\n\r\n";

        var viaProxy = await RawHttp.ExchangeAsync(edge.HttpPort, request, IPAddress.Parse("127.0.0.2"));
        Log.Note("backend saw, via the trusted proxy:\n" + viaProxy);
        Assert.Equal(200, RawHttp.StatusOf(viaProxy));
        Assert.Contains("X-Forwarded-For: 203.0.113.7, 127.0.0.2\n", viaProxy, StringComparison.Ordinal);
        Assert.Contains("X-Forwarded-Proto: https, http\n", viaProxy, StringComparison.Ordinal);
        Assert.Contains($"X-Forwarded-Host: www.example.org, {GoodHost}\n", viaProxy, StringComparison.Ordinal);

        var direct = await RawHttp.ExchangeAsync(edge.HttpPort, request, IPAddress.Loopback);
        Log.Note("backend saw, from an untrusted peer:\n" + direct);
        Assert.Equal(200, RawHttp.StatusOf(direct));
        Assert.Contains("X-Forwarded-For: 127.0.0.1\n", direct, StringComparison.Ordinal);
        Assert.Contains("X-Forwarded-Proto: http\n", direct, StringComparison.Ordinal);
        Assert.Contains($"X-Forwarded-Host: {GoodHost}\n", direct, StringComparison.Ordinal);
        Assert.DoesNotContain("203.0.113.7", direct, StringComparison.Ordinal);
        Assert.DoesNotContain("www.example.org", direct, StringComparison.Ordinal);
        Assert.DoesNotContain("https", direct, StringComparison.Ordinal);

        await transfer.CompleteAsync();
        await AssertStillServesAsync(edge);
    }

    [Fact]
    public async Task Path_reaches_the_backend_as_the_client_encoded_it()
    {
        var edge = await StartEdgeAsync();

        // YARP escaped the '%' of the %2F Kestrel keeps: npm-style scoped package paths broke.
        var (status, echo) = await GetAsync(edge, GoodHost, "/echo/@scope%2Fpkg/a%20b?q=%2F");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.StartsWith("GET /echo/@scope%2Fpkg/a%20b?q=%2F\n", echo, StringComparison.Ordinal);
        // A target Kestrel had to normalise is not passed on raw: the backend gets the path that was routed.
        var normalised = await RawHttp.ExchangeAsync(edge.HttpPort, $"GET /echo/x/%2E%2E/y HTTP/1.1\r\nHost: {GoodHost}\r\nConnection: close\r\n\r\n");
        Assert.Contains("\r\n\r\nGET /echo/y\n", normalised, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Header_names_with_underscores_are_rejected()
    {
        var edge = await StartEdgeAsync();
        var transfer = await StartTransferAsync(edge);

        foreach (var name in new[] { "X_Forwarded_For", "X-Auth_User", "_" })
        {
            var (status, _) = await GetAsync(edge, GoodHost, "/echo", r => r.Headers.TryAddWithoutValidation(name, "admin"));
            Assert.Equal(HttpStatusCode.BadRequest, status);
        }
        await Log.WaitForAsync(Wait.DefaultTimeout, "[BadHeader]", "X_Forwarded_For");

        await transfer.CompleteAsync();
        await AssertStillServesAsync(edge);
    }
    [Fact]
    public async Task Agent_can_lower_but_never_raise_the_edge_request_body_limit()
    {
        var token = WarrenHarness.NewToken();
        var edge = await StartEdgeAsync(new HarnessOptions
        {
            Limits = new EdgeLimitsConfig { MaxRequestBodySize = 100_000 },
            ExtraTokens = [new EdgeTokenConfig { Name = "bodies", Token = token, AllowHosts = ["big.test", "small.test"] }],
        });
        var transfer = await StartTransferAsync(edge);
        await edge.StartOtherAgentAsync(token, "bodies-agent",
        [
            edge.HttpService("big", "big.test") with { MaxRequestBodySize = 10_000_000 },
            edge.HttpService("small", "small.test") with { MaxRequestBodySize = 1_000 },
        ]);

        // A hostile agent asking for 10 MB does not lift the operator's 100 KB cap...
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, await PostAsync(edge, "big.test", 200_000));
        Assert.Equal(HttpStatusCode.OK, await PostAsync(edge, "big.test", 50_000));
        // ...while an agent may lower it for its own service.
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, await PostAsync(edge, "small.test", 5_000));
        Assert.Equal(HttpStatusCode.OK, await PostAsync(edge, "small.test", 500));

        await transfer.CompleteAsync();
        await AssertStillServesAsync(edge);
    }

    private async Task<HttpStatusCode> PostAsync(WarrenHarness edge, string host, int size)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, edge.Url("/sha256")) { Content = new ByteArrayContent(new byte[size]) };
        request.Headers.Host = host;
        using var response = await Client.SendAsync(request);
        return response.StatusCode;
    }
}
