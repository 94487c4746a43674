using System.Net;
using System.Net.Http;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Http;
using Warren.Configuration;
using Warren.Testing.Backends;
using Xunit.Abstractions;

namespace Warren.ConsoleTests;

/// <summary>
/// The inspector (docs/console.md, "Inspector") seen from the console, through a real edge and agent: what it keeps
/// of headers (masked by default, in clear where inspector.show_headers says), of WebSocket messages and of TCP
/// connections.
/// </summary>
public sealed partial class InspectorTests(ITestOutputHelper output) : LoggedTest(output)
{
    private static readonly string AdminToken = "adm-" + WarrenHarness.NewToken();

    [Fact]
    public async Task Credentials_cookies_and_the_policys_identity_headers_are_masked_by_default()
    {
        var page = await InspectHeadersAsync(showHeaders: []);
        foreach (var secret in new[] { "Bearer auth-secret-4711", "session=good", "key-secret-4711", "alice-4711" })
        {
            Assert.DoesNotContain(secret, page, StringComparison.Ordinal);
        }
        foreach (var header in new[] { "Authorization", "Cookie", "X-Api-Key", "Remote-User" })
        {
            Assert.Matches(HeaderRow(header, "(masked)"), page);
        }
        Assert.Matches(HeaderRow("X-Plain", "plain-4711"), page); // the rest is kept as sent
    }

    [Fact]
    public async Task Show_headers_keeps_the_named_headers_in_clear_and_masks_the_rest()
    {
        var page = await InspectHeadersAsync(showHeaders: ["authorization", "Remote-User"]);
        Assert.Matches(HeaderRow("Authorization", "Bearer auth-secret-4711"), page);
        Assert.Matches(HeaderRow("Remote-User", "alice-4711"), page);
        Assert.Matches(HeaderRow("Cookie", "(masked)"), page);
        Assert.DoesNotContain("key-secret-4711", page, StringComparison.Ordinal);
    }

    [Fact]
    public async Task WebSocket_messages_are_captured_with_direction_type_size_and_time()
    {
        var edge = Own(await WarrenHarness.StartAsync(Log, new HarnessOptions { ConfigureEdge = Inspected(["app"]) }));
        using (var invoker = new HttpMessageInvoker(new SocketsHttpHandler { ConnectCallback = (_, ct) => ConnectAsync(edge.HttpPort, ct) }))
        using (var ws = new ClientWebSocket())
        {
            await ws.ConnectAsync(new Uri($"ws://{WarrenHarness.AppHost}:{edge.HttpPort}/ws"), invoker, CancellationToken.None);
            await ExchangeMessagesAsync(ws);
        }
        await AssertMessagesCapturedAsync(edge);
    }

    [Fact]
    public async Task WebSocket_over_HTTP2_has_its_messages_captured_too()
    {
        var folder = TempDirectory();
        var (cert, key, _) = SelfSignedCertificates.Write(folder, "app", WarrenHarness.AppHost);
        var edge = Own(await WarrenHarness.StartAsync(Log, new HarnessOptions
        {
            HttpsListen = "127.0.0.1:0",
            Certificates = [new CertificateConfig { Hosts = [WarrenHarness.AppHost], Cert = cert, Key = key }],
            ConfigureEdge = Inspected(["app"]),
        }));
        var port = edge.Edge.HttpsPort!.Value;
        using (var invoker = new HttpMessageInvoker(new SocketsHttpHandler
        {
            ConnectCallback = (_, ct) => ConnectAsync(port, ct),
            SslOptions = new() { RemoteCertificateValidationCallback = (_, certificate, _, _) => certificate is not null },
        }))
        using (var ws = new ClientWebSocket())
        {
            // Extended CONNECT (RFC 8441), HTTP/2 or nothing: the edge accepts it through IHttpExtendedConnectFeature.
            ws.Options.HttpVersion = HttpVersion.Version20;
            ws.Options.HttpVersionPolicy = HttpVersionPolicy.RequestVersionExact;
            await ws.ConnectAsync(new Uri($"wss://{WarrenHarness.AppHost}:{port}/ws"), invoker, CancellationToken.None);
            await ExchangeMessagesAsync(ws);
        }
        await AssertMessagesCapturedAsync(edge);
    }

    /// <summary>A text and a binary message each way (the backend echoes), then a close.</summary>
    private static async Task ExchangeMessagesAsync(ClientWebSocket ws)
    {
        await ws.SendAsync("hello"u8.ToArray(), WebSocketMessageType.Text, true, CancellationToken.None);
        await ws.SendAsync(new byte[300], WebSocketMessageType.Binary, true, CancellationToken.None);
        var buffer = new byte[1024];
        for (var received = 0; received < 2;)
        {
            received += (await ws.ReceiveAsync(buffer, CancellationToken.None)).EndOfMessage ? 1 : 0;
        }
        await ws.CloseAsync(WebSocketCloseStatus.NormalClosure, "done", CancellationToken.None);
    }

    private static async Task AssertMessagesCapturedAsync(WarrenHarness edge)
    {
        var row = await LoggedAsync(edge, "path=/ws&service=app");
        Assert.Equal("websocket", row.GetProperty("kind").GetString());
        var page = await PageAsync(edge, row.GetProperty("id").GetInt64());
        Assert.Contains("<dt>Kind</dt><dd>websocket</dd>", page, StringComparison.Ordinal);
        Assert.Contains("<h2>Messages</h2>", page, StringComparison.Ordinal);
        Assert.Matches(EventRow("client → service", "text", "5"), page);
        Assert.Matches(EventRow("client → service", "binary", "300"), page);
        Assert.Matches(EventRow("service → client", "text", "5"), page); // the backend echoes both
        Assert.Matches(EventRow("service → client", "binary", "300"), page);
        Assert.Matches(EventRow("client → service", "close", @"\d+"), page);
    }

    [Fact]
    public async Task A_tcp_connection_is_captured_as_a_timeline_with_its_byte_counts()
    {
        var edgePort = ReservePort();
        var edge = Own(await WarrenHarness.StartAsync(Log, new HarnessOptions
        {
            AllowPorts = [edgePort],
            Services = h => [new ServiceConfig { Name = "echo", Port = edgePort, Target = new Uri($"tcp://127.0.0.1:{h.TcpEcho.Port}") }],
            ConfigureEdge = Inspected(["echo"]),
        }));
        using (var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
        {
            await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, edgePort));
            await socket.SendAsync(new byte[1234], SocketFlags.None);
            var buffer = new byte[4096];
            for (var echoed = 0; echoed < 1234;)
            {
                var n = await socket.ReceiveAsync(buffer, SocketFlags.None);
                Assert.True(n > 0, $"the echo ended after {echoed} bytes");
                echoed += n;
            }
            socket.Shutdown(SocketShutdown.Send);
            while (await socket.ReceiveAsync(buffer, SocketFlags.None) > 0)
            {
            }
        }

        var row = await LoggedAsync(edge, "service=echo");
        Assert.Equal("tcp", row.GetProperty("kind").GetString());
        var page = await PageAsync(edge, row.GetProperty("id").GetInt64());
        Assert.Contains("<h2>Timeline</h2>", page, StringComparison.Ordinal);
        Assert.Contains("<dt>Bytes in / out</dt><dd>1.2 kB / 1.2 kB</dd>", page, StringComparison.Ordinal);
        Assert.Matches(EventRow("client → edge", @"connected \(session test-agent#\d+\)", "0"), page);
        Assert.Matches(EventRow("client → service", "bytes", "1,234"), page);
        Assert.Matches(EventRow("service → client", "bytes", "1,234"), page);
        Assert.Matches(EventRow("edge", "closed", "0"), page);
    }

    /// <summary>
    /// One request with credentials, a cookie, an API key and a plain header to an inspected service behind
    /// forward_auth, which adds the identity header Remote-User; returns its inspector page.
    /// </summary>
    private async Task<string> InspectHeadersAsync(IReadOnlyList<string> showHeaders)
    {
        var auth = Own(await BackendHttpServer.StartAsync(context =>
        {
            context.Response.Headers["Remote-User"] = "alice-4711";
            return Task.CompletedTask;
        }));
        var edge = Own(await WarrenHarness.StartAsync(Log, new HarnessOptions
        {
            Services = h => [h.HttpService("app", WarrenHarness.AppHost) with
            {
                Policy = new PolicyConfig { ForwardAuth = new ForwardAuthConfig { Url = $"{auth.Uri}verify", CopyHeaders = ["Remote-User"] } },
            }],
            ConfigureEdge = c => Inspected(["app"])(c) with { Inspector = new InspectorConfig { Services = ["app"], ShowHeaders = showHeaders } },
        }));
        using var request = edge.Request(HttpMethod.Get, "/bytes/10?inspect");
        request.Headers.TryAddWithoutValidation("Authorization", "Bearer auth-secret-4711");
        request.Headers.Add("Cookie", "session=good");
        request.Headers.Add("X-Api-Key", "key-secret-4711");
        request.Headers.Add("X-Plain", "plain-4711");
        using (var response = await edge.Client.SendAsync(request))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }
        var row = await LoggedAsync(edge, "path=/bytes/10");
        return await PageAsync(edge, row.GetProperty("id").GetInt64());
    }

    private static Func<EdgeConfig, EdgeConfig> Inspected(IReadOnlyList<string> services) =>
        c => c with { AdminToken = AdminToken, Inspector = new InspectorConfig { Services = services } };

    private static async Task<System.Text.Json.JsonElement> LoggedAsync(WarrenHarness edge, string query)
    {
        System.Text.Json.JsonElement[] rows = [];
        await Wait.UntilAsync(async () => (rows = await ConsoleClient.SearchAsync(edge, AdminToken, query)).Length > 0, $"the request log has a row for {query}");
        return rows[0];
    }

    /// <summary>The capture's page in the console, HTML entities decoded (arrows, quotes).</summary>
    private static async Task<string> PageAsync(WarrenHarness edge, long id)
    {
        using var response = await ConsoleClient.GetWithBearerAsync(edge.Client, $"http://127.0.0.1:{edge.Edge.AdminPort}/console/inspector/{id}", AdminToken);
        var html = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"inspector {id}: {(int)response.StatusCode} {html}");
        return WebUtility.HtmlDecode(html);
    }

    private static async ValueTask<Stream> ConnectAsync(int port, CancellationToken cancellationToken)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(IPAddress.Loopback, port, cancellationToken);
        return new NetworkStream(socket, ownsSocket: true);
    }

    private static Regex HeaderRow(string name, string value) =>
        new($@"<tr><th[^>]*>{Regex.Escape(name)}</th><td[^>]*>{Regex.Escape(value)}</td></tr>", RegexOptions.IgnoreCase);

    private static Regex EventRow(string direction, string what, string bytes) =>
        new($@"<tr><td class=""mono"">\d\d:\d\d:\d\d\.\d{{3}}</td><td>{Regex.Escape(direction)}</td><td>{what}</td><td class=""num"">{bytes}</td></tr>");
}
