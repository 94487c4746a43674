using System.Globalization;
using System.Net;
using System.Net.WebSockets;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Warren.LoadTest;

namespace Warren.Soak;

/// <summary>
/// The private services behind the agent, on loopback in this process (Kestrel):
/// HTTP <c>GET /bytes/{seed}/{n}</c> (n <see cref="Pattern"/> bytes), <c>POST /upload/{seed}</c> (checks the body
/// against the pattern, answers "received firstBad"), <c>/ws</c> (WebSocket echo, message by message), and a raw
/// TCP echo on a second port.
/// </summary>
internal sealed class Backends : IAsyncDisposable
{
    public const long MaxBody = 1L << 30;

    private readonly WebApplication _app;

    private Backends(WebApplication app) => _app = app;

    public static async Task<Backends> StartAsync(int httpPort, int tcpPort)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            k.Limits.MaxRequestBodySize = MaxBody;
            k.Limits.MaxConcurrentConnections = null;
            k.Limits.MaxConcurrentUpgradedConnections = null;
            k.Listen(IPAddress.Loopback, httpPort);
            k.Listen(IPAddress.Loopback, tcpPort, o => o.Run(EchoAsync));
        });
        var app = builder.Build();
        app.UseWebSockets();
        app.MapGet("/bytes/{seed}/{n}", DownloadAsync);
        app.MapPost("/upload/{seed}", UploadAsync);
        app.Map("/ws", (HttpContext context) => WebSocketEcho.HandleAsync(context, bufferSize: 16 * 1024));
        await app.StartAsync();
        return new Backends(app);
    }

    private static async Task DownloadAsync(HttpContext context, string seed, string n)
    {
        if (!ulong.TryParse(seed, NumberStyles.None, CultureInfo.InvariantCulture, out var s)
            || !long.TryParse(n, NumberStyles.None, CultureInfo.InvariantCulture, out var length) || length > MaxBody)
        {
            context.Response.StatusCode = StatusCodes.Status400BadRequest;
            return;
        }
        context.Response.ContentType = "application/octet-stream";
        context.Response.ContentLength = length;
        var buffer = new byte[64 * 1024];
        for (long offset = 0; offset < length;)
        {
            var count = (int)Math.Min(buffer.Length, length - offset);
            Pattern.Fill(s, offset, buffer.AsSpan(0, count));
            await context.Response.Body.WriteAsync(buffer.AsMemory(0, count), context.RequestAborted);
            offset += count;
        }
    }

    private static async Task<IResult> UploadAsync(HttpContext context, string seed)
    {
        if (!ulong.TryParse(seed, NumberStyles.None, CultureInfo.InvariantCulture, out var s))
        {
            return Results.BadRequest();
        }
        var buffer = new byte[64 * 1024];
        long received = 0, firstBad = -1;
        int read;
        while ((read = await context.Request.Body.ReadAsync(buffer, context.RequestAborted)) > 0)
        {
            if (firstBad < 0)
            {
                firstBad = Pattern.FirstMismatch(s, received, buffer.AsSpan(0, read));
            }
            received += read;
        }
        return Results.Text(string.Create(CultureInfo.InvariantCulture, $"{received} {firstBad}"));
    }

    // No ConnectionClosed token here: Kestrel fires it when the client's FIN arrives, which would cut the echo of
    // what is still to be sent back.
    private static async Task EchoAsync(ConnectionContext connection)
    {
        var input = connection.Transport.Input;
        var output = connection.Transport.Output;
        try
        {
            while (true)
            {
                var result = await input.ReadAsync();
                foreach (var segment in result.Buffer)
                {
                    await output.WriteAsync(segment);
                }
                input.AdvanceTo(result.Buffer.End);
                if (result.IsCompleted)
                {
                    break;
                }
            }
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or ConnectionResetException)
        {
            // Reset mid-echo (an agent restart): the client side counts it.
        }
        await output.CompleteAsync();
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
