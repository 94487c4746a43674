using System.Net;
using System.Net.Http;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Warren.Edge.Forwarding;

namespace Warren.Edge.Tests.Forwarding;

/// <summary>
/// The upgrade path's HTTP/1.1 client (Forwarding/TunnelUpgradeHandler.cs, Http1Reader.cs) against a real Kestrel
/// and against a raw socket server that answers byte for byte what a test gives it. The "tunnel stream" here is a
/// loopback TCP connection: the handler only needs a stream.
/// </summary>
public sealed class TunnelUpgradeHandlerTests : IAsyncLifetime
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);
    private WebApplication? _kestrel;
    private int _kestrelPort;

    public async Task InitializeAsync()
    {
        var builder = WebHosting.CreateBuilder();
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0));
        _kestrel = builder.Build();
        _kestrel.UseWebSockets();
        _kestrel.Run(async context =>
        {
            switch (context.Request.Path.Value)
            {
                case "/ws" when context.WebSockets.IsWebSocketRequest:
                    context.Response.Headers["X-Backend"] = context.Request.Headers["X-Sent"].ToString();
                    using (var socket = await context.WebSockets.AcceptWebSocketAsync())
                    {
                        var buffer = new byte[1024];
                        while (true)
                        {
                            var result = await socket.ReceiveAsync(buffer, context.RequestAborted);
                            if (result.MessageType == WebSocketMessageType.Close)
                            {
                                await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, null, context.RequestAborted);
                                return;
                            }
                            await socket.SendAsync(buffer.AsMemory(0, result.Count), result.MessageType, result.EndOfMessage, context.RequestAborted);
                        }
                    }
                case "/refuse-chunked":
                    // No length: Kestrel sends the body chunked, one chunk per write.
                    context.Response.StatusCode = StatusCodes.Status403Forbidden;
                    context.Response.ContentType = "text/plain";
                    await context.Response.WriteAsync("not ");
                    await context.Response.Body.FlushAsync();
                    await context.Response.WriteAsync(new string('x', 10_000));
                    return;
                case "/refuse-length":
                    context.Response.StatusCode = StatusCodes.Status401Unauthorized;
                    context.Response.ContentLength = 7;
                    await context.Response.WriteAsync("go away");
                    return;
                default:
                    context.Response.StatusCode = StatusCodes.Status404NotFound;
                    return;
            }
        });
        await _kestrel.StartAsync();
        _kestrelPort = new Uri(_kestrel.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single()).Port;
    }

    public async Task DisposeAsync()
    {
        if (_kestrel is not null)
        {
            await _kestrel.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_WebSocket_upgrade_gets_the_101_and_the_stream_carries_the_WebSocket_both_ways()
    {
        using var timeout = new CancellationTokenSource(Timeout);
        using var invoker = Invoker(_kestrelPort);
        using var request = UpgradeRequest("/ws");
        request.Headers.TryAddWithoutValidation("X-Sent", "by the edge");

        using var response = await invoker.SendAsync(request, timeout.Token);

        Assert.Equal(HttpStatusCode.SwitchingProtocols, response.StatusCode);
        Assert.Equal("by the edge", Assert.Single(response.Headers.GetValues("X-Backend")));
        Assert.Contains("websocket", response.Headers.Upgrade.Select(u => u.Name), StringComparer.OrdinalIgnoreCase);
        var stream = await response.Content.ReadAsStreamAsync(timeout.Token);
        Assert.True(stream.CanWrite);
        using var socket = WebSocket.CreateFromStream(stream, isServer: false, subProtocol: null, keepAliveInterval: System.Threading.Timeout.InfiniteTimeSpan);
        var buffer = new byte[64];
        foreach (var text in new[] { "first", "second message" })
        {
            await socket.SendAsync(Encoding.UTF8.GetBytes(text), WebSocketMessageType.Text, endOfMessage: true, timeout.Token);
            var result = await socket.ReceiveAsync(buffer, timeout.Token);
            Assert.Equal(text, Encoding.UTF8.GetString(buffer, 0, result.Count));
        }
        await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "done", timeout.Token);
        Assert.Equal(WebSocketCloseStatus.NormalClosure, socket.CloseStatus);
    }

    [Fact]
    public async Task A_refused_upgrade_with_a_chunked_body_comes_back_whole()
    {
        using var timeout = new CancellationTokenSource(Timeout);
        using var invoker = Invoker(_kestrelPort);
        using var request = UpgradeRequest("/refuse-chunked");

        using var response = await invoker.SendAsync(request, timeout.Token);

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Equal("text/plain", response.Content.Headers.ContentType?.MediaType);
        Assert.True(response.Headers.TransferEncodingChunked);
        Assert.Equal("not " + new string('x', 10_000), await response.Content.ReadAsStringAsync(timeout.Token));
    }

    [Fact]
    public async Task A_refused_upgrade_with_a_Content_Length_comes_back_with_exactly_that_body()
    {
        using var timeout = new CancellationTokenSource(Timeout);
        using var invoker = Invoker(_kestrelPort);
        using var request = UpgradeRequest("/refuse-length");

        using var response = await invoker.SendAsync(request, timeout.Token);

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal(7, response.Content.Headers.ContentLength);
        Assert.Equal("go away", await response.Content.ReadAsStringAsync(timeout.Token));
    }

    [Fact]
    public async Task Bytes_the_service_sends_with_the_101_are_read_first_and_interim_answers_are_skipped()
    {
        using var timeout = new CancellationTokenSource(Timeout);
        // One write: an interim 100, the 101 and the first bytes of the new protocol, all in one segment.
        await using var server = await RawServer.StartAsync(
            "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 101 Switching Protocols\nUpgrade: test\nConnection: Upgrade\n\nearly", keepOpen: true);
        using var invoker = Invoker(server.Port);
        using var request = UpgradeRequest("/raw");

        using var response = await invoker.SendAsync(request, timeout.Token);

        Assert.Equal(HttpStatusCode.SwitchingProtocols, response.StatusCode);
        var stream = await response.Content.ReadAsStreamAsync(timeout.Token);
        Assert.Equal(0, await stream.ReadAsync(Memory<byte>.Empty, timeout.Token)); // a zero-byte read: data is waiting
        var buffer = new byte[3];
        Assert.Equal(3, await stream.ReadAsync(buffer, timeout.Token));
        Assert.Equal("ear", Encoding.ASCII.GetString(buffer));
        await stream.WriteAsync("ping"u8.ToArray(), timeout.Token);
        Assert.Equal("ping", await server.ReadAfterHeadAsync(4, timeout.Token));
        await server.SendAsync("late", timeout.Token);
        var rest = new StringBuilder();
        while (rest.Length < "lylate".Length)
        {
            var n = await stream.ReadAsync(buffer, timeout.Token);
            Assert.NotEqual(0, n);
            rest.Append(Encoding.ASCII.GetString(buffer, 0, n));
        }
        Assert.Equal("lylate", rest.ToString());
        // The request went out as one HTTP/1.1 head, Host first.
        Assert.StartsWith("GET /raw?q=%2F HTTP/1.1\r\nHost: app.example\r\n", server.RequestHead);
        Assert.Contains("\r\nUpgrade: websocket\r\n", server.RequestHead);
    }

    [Fact]
    public async Task A_body_up_to_the_end_of_the_stream_and_an_empty_204_are_read_as_sent()
    {
        using var timeout = new CancellationTokenSource(Timeout);
        await using (var server = await RawServer.StartAsync("HTTP/1.0 400 Bad Request\r\n\r\nclosed-delimited body", keepOpen: false))
        {
            using var invoker = Invoker(server.Port);
            using var request = UpgradeRequest("/raw");
            using var response = await invoker.SendAsync(request, timeout.Token);
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
            Assert.Equal(HttpVersion.Version10, response.Version);
            Assert.Equal("closed-delimited body", await response.Content.ReadAsStringAsync(timeout.Token));
        }
        await using (var server = await RawServer.StartAsync("HTTP/1.1 204 No Content\r\nX-A: b\r\n\r\n", keepOpen: true))
        {
            using var invoker = Invoker(server.Port);
            using var request = UpgradeRequest("/raw");
            using var response = await invoker.SendAsync(request, timeout.Token);
            Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
            Assert.Equal("", await response.Content.ReadAsStringAsync(timeout.Token)); // the stream stays open: framing, not its end
        }
    }

    [Theory]
    [InlineData("HTTP/1.1 200 OK\r\nX-Folded: a\r\n b\r\n\r\n", "folded")]
    [InlineData("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 50\r\n\r\nhello", "Content-Length")]
    [InlineData("HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\nhello", "Content-Length")]
    [InlineData("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "both Transfer-Encoding and Content-Length")]
    [InlineData("HTTP/1.1 200 OK\r\nX-Space : a\r\n\r\n", "invalid header line")]
    [InlineData("HTTP/1.1 200 OK\r\nX-Cr: a\rb\r\n\r\n", "control character")]
    [InlineData("HTTP/2 200 OK\r\n\r\n", "status line")]
    [InlineData("HTTP/1.1 20 OK\r\n\r\n", "status line")]
    [InlineData("HTTP/1.1 200 OK\r\nX-Half", "middle of its response head")]
    [InlineData("", "without answering")]
    [InlineData("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 100 Continue\r\n\r\n" +
        "HTTP/1.1 103 Early Hints\r\n\r\nHTTP/1.1 103 Early Hints\r\n\r\nHTTP/1.1 103 Early Hints\r\n\r\nHTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 101 Switching Protocols\r\n\r\n", "more than 8 interim")]
    public async Task A_malformed_response_head_is_an_HttpRequestException_that_names_the_fault(string answer, string named)
    {
        using var timeout = new CancellationTokenSource(Timeout);
        await using var server = await RawServer.StartAsync(answer, keepOpen: false);
        using var invoker = Invoker(server.Port);
        using var request = UpgradeRequest("/raw");

        var error = await Assert.ThrowsAsync<HttpRequestException>(() => invoker.SendAsync(request, timeout.Token));

        Assert.Contains(named, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_response_head_over_64_KiB_is_refused_without_reading_on()
    {
        using var timeout = new CancellationTokenSource(Timeout);
        var huge = "HTTP/1.1 200 OK\r\n" + string.Concat(Enumerable.Repeat("X-Filler: " + new string('f', 1000) + "\r\n", 70));
        await using var server = await RawServer.StartAsync(huge, keepOpen: true);
        using var invoker = Invoker(server.Port);
        using var request = UpgradeRequest("/raw");

        var error = await Assert.ThrowsAsync<HttpRequestException>(() => invoker.SendAsync(request, timeout.Token));

        Assert.Contains("larger than 64 KiB", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_bad_chunk_size_fails_the_body_read()
    {
        using var timeout = new CancellationTokenSource(Timeout);
        await using var server = await RawServer.StartAsync("HTTP/1.1 403 Forbidden\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nnot \r\nzz\r\n", keepOpen: true);
        using var invoker = Invoker(server.Port);
        using var request = UpgradeRequest("/raw");
        using var response = await invoker.SendAsync(request, timeout.Token);
        var body = await response.Content.ReadAsStreamAsync(timeout.Token);
        var buffer = new byte[16];

        Assert.Equal(4, await body.ReadAsync(buffer, timeout.Token));
        var error = await Assert.ThrowsAsync<IOException>(async () => _ = await body.ReadAsync(buffer, timeout.Token));
        Assert.Contains("invalid chunk size 'zz'", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("a\r\nInjected: yes")]
    [InlineData("caf\u00e9")]
    public async Task A_request_header_that_cannot_be_sent_as_it_is_fails_before_a_stream_is_opened(string value)
    {
        var opened = false;
        using var invoker = new HttpMessageInvoker(new TunnelUpgradeHandler(Timeout, (_, _) =>
        {
            opened = true;
            return ValueTask.FromResult<Stream>(new MemoryStream());
        }));
        using var request = UpgradeRequest("/raw");
        request.Headers.TryAddWithoutValidation("X-Value", value);

        await Assert.ThrowsAsync<HttpRequestException>(() => invoker.SendAsync(request, CancellationToken.None));

        Assert.False(opened);
    }

    [Fact]
    public async Task An_open_that_takes_longer_than_the_open_timeout_is_a_timeout()
    {
        using var invoker = new HttpMessageInvoker(new TunnelUpgradeHandler(TimeSpan.FromMilliseconds(100), async (_, token) =>
        {
            await Task.Delay(System.Threading.Timeout.Infinite, token);
            throw new InvalidOperationException("not reached");
        }));
        using var request = UpgradeRequest("/raw");

        var error = await Assert.ThrowsAsync<TaskCanceledException>(() => invoker.SendAsync(request, CancellationToken.None));

        Assert.IsType<TimeoutException>(error.InnerException);
    }

    private static HttpMessageInvoker Invoker(int port) => new(new TunnelUpgradeHandler(Timeout, async (_, token) =>
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(IPAddress.Loopback, port, token);
        return new NetworkStream(socket, ownsSocket: true);
    }));

    private static HttpRequestMessage UpgradeRequest(string path)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, $"http://s1.tunnel{path}{(path == "/raw" ? "?q=%2F" : "")}");
        request.Headers.Host = "app.example";
        request.Headers.TryAddWithoutValidation("Connection", "Upgrade");
        request.Headers.TryAddWithoutValidation("Upgrade", "websocket");
        request.Headers.TryAddWithoutValidation("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==");
        request.Headers.TryAddWithoutValidation("Sec-WebSocket-Version", "13");
        return request;
    }

    /// <summary>A one-connection server: reads the request head, answers with the given bytes in one write, then closes or stays.</summary>
    private sealed class RawServer : IAsyncDisposable
    {
        private readonly TcpListener _listener;
        private readonly Task<Socket> _accepted;
        private readonly Task _answered;
        private readonly MemoryStream _head = new();

        private RawServer(string answer, bool keepOpen)
        {
            _listener = new TcpListener(IPAddress.Loopback, 0);
            _listener.Start();
            _accepted = _listener.AcceptSocketAsync();
            _answered = AnswerAsync(answer, keepOpen);
        }

        public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

        public string RequestHead => Encoding.ASCII.GetString(_head.ToArray());

        public static Task<RawServer> StartAsync(string answer, bool keepOpen) => Task.FromResult(new RawServer(answer, keepOpen));

        private async Task AnswerAsync(string answer, bool keepOpen)
        {
            var socket = await _accepted;
            var one = new byte[1];
            while (!RequestHead.EndsWith("\r\n\r\n", StringComparison.Ordinal) && await socket.ReceiveAsync(one) == 1)
            {
                _head.WriteByte(one[0]);
            }
            await socket.SendAsync(Encoding.ASCII.GetBytes(answer));
            if (!keepOpen)
            {
                socket.Shutdown(SocketShutdown.Send);
            }
        }

        public async Task<string> ReadAfterHeadAsync(int count, CancellationToken cancellationToken)
        {
            await _answered;
            var socket = await _accepted;
            var buffer = new byte[count];
            var read = 0;
            while (read < count)
            {
                var n = await socket.ReceiveAsync(buffer.AsMemory(read), cancellationToken);
                Assert.NotEqual(0, n);
                read += n;
            }
            return Encoding.ASCII.GetString(buffer);
        }

        public async Task SendAsync(string text, CancellationToken cancellationToken)
        {
            await _answered;
            await (await _accepted).SendAsync(Encoding.ASCII.GetBytes(text), cancellationToken);
        }

        public async ValueTask DisposeAsync()
        {
            _listener.Stop();
            if (_accepted.IsCompletedSuccessfully)
            {
                _accepted.Result.Dispose();
            }
            try
            {
                await _answered;
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
            {
                // the handler closed the connection first
            }
        }
    }
}
