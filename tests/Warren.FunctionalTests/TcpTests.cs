using System.Net;
using System.Net.Sockets;
using Warren.Configuration;
using Xunit.Abstractions;

namespace Warren.FunctionalTests;

public sealed class TcpTests(ITestOutputHelper output) : LoggedTest(output)
{
    [Fact]
    public async Task Hundred_MB_echoed_through_the_edge_TCP_port_byte_exact_with_half_close()
    {
        const long size = 100L * 1024 * 1024;
        var edgePort = Ports.Free();
        await using var tunnel = await WarrenHarness.StartAsync(Log, new HarnessOptions
        {
            AllowPorts = [edgePort],
            Services = h => [new ServiceConfig { Name = "echo", Port = edgePort, Target = new Uri($"tcp://127.0.0.1:{h.TcpEcho.Port}") }],
        });
        using var timeout = new CancellationTokenSource(TestTimeout);
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, edgePort), timeout.Token);

        var sender = Task.Run(async () =>
        {
            var source = new GeneratorStream(size);
            var chunk = new byte[64 * 1024];
            int n;
            while ((n = source.Read(chunk)) > 0)
            {
                await socket.SendAsync(chunk.AsMemory(0, n), SocketFlags.None, timeout.Token);
            }
            // Half-close: the echo server sees EOF, finishes echoing, and closes its side.
            socket.Shutdown(SocketShutdown.Send);
        });

        var expected = new GeneratorStream(size);
        var buffer = new byte[64 * 1024];
        var compare = new byte[64 * 1024];
        long received = 0;
        int read;
        while ((read = await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token)) > 0)
        {
            Assert.True(received + read <= size, $"received more than the {size} bytes sent");
            expected.ReadExactly(compare, 0, read);
            if (!buffer.AsSpan(0, read).SequenceEqual(compare.AsSpan(0, read)))
            {
                Assert.Fail($"echoed bytes differ within offsets {received}..{received + read}");
            }
            received += read;
        }
        await sender;

        Assert.Equal(size, received);
    }
}
