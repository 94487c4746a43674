using System.Net.WebSockets;
using Microsoft.AspNetCore.Http;

namespace Warren.LoadTest;

/// <summary>The benchmark backends' WebSocket echo (load test and soak): every message back as it came, until Close.</summary>
internal static class WebSocketEcho
{
    public static async Task HandleAsync(HttpContext context, int bufferSize)
    {
        if (!context.WebSockets.IsWebSocketRequest)
        {
            context.Response.StatusCode = StatusCodes.Status400BadRequest;
            return;
        }
        using var socket = await context.WebSockets.AcceptWebSocketAsync();
        var buffer = new byte[bufferSize];
        try
        {
            while (true)
            {
                var result = await socket.ReceiveAsync(buffer, context.RequestAborted);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, context.RequestAborted);
                    return;
                }
                await socket.SendAsync(buffer.AsMemory(0, result.Count), result.MessageType, result.EndOfMessage, context.RequestAborted);
            }
        }
        catch (Exception ex) when (ex is WebSocketException or OperationCanceledException or IOException)
        {
            // The client or the tunnel went away mid-conversation; the client side counts it.
        }
    }
}
