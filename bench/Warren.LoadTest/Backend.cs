using System.Net;
using System.Net.WebSockets;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Warren.LoadTest;

/// <summary>The WebSocket echo and upload-discard backend (nginx serves the static bodies).</summary>
internal static class Backend
{
    public static async Task<int> RunAsync(Args args)
    {
        var port = args.Int("port", 18085);
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            k.Limits.MaxRequestBodySize = null;
            k.Limits.MaxConcurrentConnections = null;
            k.Limits.MaxConcurrentUpgradedConnections = null;
            k.Listen(IPAddress.Loopback, port);
        });
        await using var app = builder.Build();
        app.UseWebSockets();
        app.Map("/discard", async (HttpContext context) =>
        {
            var buffer = new byte[256 * 1024];
            long total = 0;
            int n;
            while ((n = await context.Request.Body.ReadAsync(buffer, context.RequestAborted)) > 0)
            {
                total += n;
            }
            return Results.Text(total.ToString(System.Globalization.CultureInfo.InvariantCulture) + "\n");
        });
        app.Map("/ws", (HttpContext context) => WebSocketEcho.HandleAsync(context, bufferSize: 4096));
        app.MapGet("/", () => "warren-loadtest backend\n");
        await app.RunAsync();
        return 0;
    }
}
