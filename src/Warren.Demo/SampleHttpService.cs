using System.Net;
using System.Net.WebSockets;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Warren.Edge;

namespace Warren.Demo;

/// <summary>
/// The demo's HTTP service (also the tests' backend): echo, server-sent events, WebSocket echo, sized downloads,
/// upload hashing, and a slow endpoint. A real Kestrel app on loopback.
/// </summary>
public sealed class SampleHttpService : IAsyncDisposable
{
    private readonly WebApplication _app;

    private SampleHttpService(WebApplication app, int port)
    {
        _app = app;
        Port = port;
    }

    public int Port { get; }

    public static async Task<SampleHttpService> StartAsync(int port = 0)
    {
        var builder = WebHosting.CreateBuilder();
        builder.Logging.ClearProviders();
        ListenOptions? listener = null;
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Limits.MaxRequestBodySize = null;
            k.Listen(IPAddress.Loopback, port, l => listener = l);
        });
        var app = builder.Build();
        app.UseWebSockets();
        Map(app);
        await app.StartAsync().ConfigureAwait(false);
        return new SampleHttpService(app, listener!.IPEndPoint!.Port);
    }

    /// <summary>Method and request target exactly as received (not decoded), the headers sorted, then the body.</summary>
    private static async Task<IResult> EchoAsync(HttpContext context)
    {
        var request = context.Request;
        var text = new StringBuilder();
        var target = context.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpRequestFeature>()?.RawTarget;
        text.Append(request.Method).Append(' ').Append(target ?? request.Path + request.QueryString).Append('\n');
        foreach (var header in request.Headers.OrderBy(h => h.Key, StringComparer.Ordinal))
        {
            text.Append(header.Key).Append(": ").Append(header.Value.ToString()).Append('\n');
        }
        using var reader = new StreamReader(request.Body);
        var body = await reader.ReadToEndAsync(context.RequestAborted).ConfigureAwait(false);
        text.Append('\n').Append(body);
        return Results.Text(text.ToString());
    }

    private const int ChunkSize = 64 * 1024;

    /// <summary>Byte i is i mod 251, long enough that any chunk of /bytes is a slice of it (no per-byte work per request).</summary>
    private static readonly byte[] BytePattern = Enumerable.Range(0, ChunkSize + 251).Select(i => (byte)(i % 251)).ToArray();

    private static void Map(WebApplication app)
    {
        app.MapGet("/", () => "Warren demo service. Try /echo, /stream, /ws, /bytes/1048576, POST /sha256, /slow?ms=2000\n");
        app.Map("/echo", (Delegate)EchoAsync);
        app.Map("/echo/{**rest}", (Delegate)EchoAsync); // any path under /echo, to show how a path arrives
        app.MapGet("/stream", async (HttpContext context, int? count, int? intervalMs) =>
        {
            context.Response.ContentType = "text/event-stream";
            context.Response.Headers.CacheControl = "no-cache";
            var n = Math.Clamp(count ?? 5, 1, 10_000);
            var interval = TimeSpan.FromMilliseconds(Math.Clamp(intervalMs ?? 1000, 0, 60_000));
            for (var i = 1; i <= n; i++)
            {
                await context.Response.WriteAsync($"id: {i}\ndata: event {i} of {n} at {DateTimeOffset.UtcNow:O}\n\n", context.RequestAborted).ConfigureAwait(false);
                await context.Response.Body.FlushAsync(context.RequestAborted).ConfigureAwait(false);
                if (i < n)
                {
                    await Task.Delay(interval, context.RequestAborted).ConfigureAwait(false);
                }
            }
        });
        app.MapGet("/bytes/{size:long}", async (HttpContext context, long size) =>
        {
            // Deterministic content (byte i = i mod 251) so a client can check every byte without a second copy.
            context.Response.ContentType = "application/octet-stream";
            context.Response.ContentLength = size;
            var aborted = context.RequestAborted;
            for (long sent = 0; sent < size;)
            {
                // Kestrel discards writes once the client is gone instead of failing them, so the loop watches the
                // token itself: a 1 GiB response to a client that left kept a core busy for seconds, and dozens of
                // them starved every other request of the process.
                aborted.ThrowIfCancellationRequested();
                var n = (int)Math.Min(ChunkSize, size - sent);
                await context.Response.Body.WriteAsync(BytePattern.AsMemory((int)(sent % 251), n), aborted).ConfigureAwait(false);
                sent += n;
            }
        });
        app.MapPost("/sha256", async (HttpContext context) =>
        {
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            var buffer = new byte[64 * 1024];
            long total = 0;
            int n;
            while ((n = await context.Request.Body.ReadAsync(buffer, context.RequestAborted).ConfigureAwait(false)) > 0)
            {
                hash.AppendData(buffer, 0, n);
                total += n;
            }
            return Results.Text($"{Convert.ToHexStringLower(hash.GetHashAndReset())} {total}");
        });
        app.MapGet("/slow", async (int? ms, CancellationToken cancellationToken) =>
        {
            await Task.Delay(Math.Clamp(ms ?? 1000, 0, 600_000), cancellationToken).ConfigureAwait(false);
            return "slow response\n";
        });
        app.Map("/ws", async (HttpContext context) =>
        {
            if (!context.WebSockets.IsWebSocketRequest)
            {
                return Results.BadRequest("WebSocket only\n");
            }
            using var socket = await context.WebSockets.AcceptWebSocketAsync().ConfigureAwait(false);
            var buffer = new byte[64 * 1024];
            while (true)
            {
                var result = await socket.ReceiveAsync(buffer, context.RequestAborted).ConfigureAwait(false);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "bye", context.RequestAborted).ConfigureAwait(false);
                    return Results.Empty;
                }
                await socket.SendAsync(buffer.AsMemory(0, result.Count), result.MessageType, result.EndOfMessage, context.RequestAborted).ConfigureAwait(false);
            }
        });
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync().ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
    }
}
