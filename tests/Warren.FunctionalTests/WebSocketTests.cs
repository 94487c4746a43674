using System.Net.WebSockets;
using System.Text;
using Xunit.Abstractions;

namespace Warren.FunctionalTests;

public sealed class WebSocketTests(ITestOutputHelper output) : LoggedTest(output)
{
    [Fact]
    public async Task Ten_thousand_WebSocket_messages_are_echoed_in_order()
    {
        const int count = 10_000;
        await using var tunnel = await WarrenHarness.StartAsync(Log);
        using var socket = new ClientWebSocket();
        socket.Options.SetRequestHeader("Host", WarrenHarness.AppHost);
        using var timeout = new CancellationTokenSource(TestTimeout);
        await socket.ConnectAsync(new Uri($"ws://127.0.0.1:{tunnel.Edge.HttpPort}/ws"), timeout.Token);

        // Sending and receiving overlap (one sender, one receiver), so the test measures the tunnel, not round trips.
        var sender = Task.Run(async () =>
        {
            for (var i = 0; i < count; i++)
            {
                var binary = i % 2 == 1;
                await socket.SendAsync(Message(i), binary ? WebSocketMessageType.Binary : WebSocketMessageType.Text, endOfMessage: true, timeout.Token);
            }
        });
        var buffer = new byte[64 * 1024];
        for (var i = 0; i < count; i++)
        {
            var received = 0;
            ValueWebSocketReceiveResult result;
            do
            {
                result = await socket.ReceiveAsync(buffer.AsMemory(received), timeout.Token);
                received += result.Count;
            }
            while (!result.EndOfMessage);
            Assert.Equal(i % 2 == 1 ? WebSocketMessageType.Binary : WebSocketMessageType.Text, result.MessageType);
            var expected = Message(i);
            if (!buffer.AsSpan(0, received).SequenceEqual(expected))
            {
                Assert.Fail($"message {i}: expected {expected.Length} bytes '{Encoding.UTF8.GetString(expected)[..Math.Min(40, expected.Length)]}...', got {received} bytes '{Encoding.UTF8.GetString(buffer, 0, Math.Min(40, received))}...'");
            }
        }
        await sender;
        await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "done", timeout.Token);

        Assert.Equal(WebSocketState.Closed, socket.State);
        Assert.Equal(WebSocketCloseStatus.NormalClosure, socket.CloseStatus);
    }

    /// <summary>Message i: its number, then i mod 997 filler bytes (sizes vary from 10 bytes to about 1 KiB).</summary>
    private static byte[] Message(int i) => Encoding.UTF8.GetBytes($"message {i}:" + new string((char)('a' + (i % 26)), i % 997));
}
