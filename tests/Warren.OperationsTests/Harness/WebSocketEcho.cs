using System.Net.WebSockets;
using System.Text;

namespace Warren.OperationsTests.Harness;

/// <summary>One round trip on a WebSocket to the sample backend's /ws echo.</summary>
internal static class WebSocketEcho
{
    public static async Task<string> EchoAsync(this ClientWebSocket socket, string text, CancellationToken cancellationToken)
    {
        await socket.SendAsync(Encoding.UTF8.GetBytes(text), WebSocketMessageType.Text, endOfMessage: true, cancellationToken);
        var buffer = new byte[1024];
        var result = await socket.ReceiveAsync(buffer, cancellationToken);
        return Encoding.UTF8.GetString(buffer, 0, result.Count);
    }
}
