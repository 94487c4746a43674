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
        var edgePort = ReservePort();
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

    [Fact]
    public async Task Tunnel_lost_mid_connection_resets_the_client_connection_rather_than_closing_it_cleanly()
    {
        var edgePort = ReservePort();
        await using var tunnel = await WarrenHarness.StartAsync(Log, new HarnessOptions
        {
            AllowPorts = [edgePort],
            Services = h => [new ServiceConfig { Name = "echo", Port = edgePort, Target = new Uri($"tcp://127.0.0.1:{h.TcpEcho.Port}") }],
        });
        using var timeout = new CancellationTokenSource(TestTimeout);
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, edgePort), timeout.Token);
        var buffer = new byte[4096];
        await socket.SendAsync(new byte[1000], SocketFlags.None, timeout.Token);
        for (var echoed = 0; echoed < 1000;)
        {
            var n = await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token);
            Assert.True(n > 0, $"the echo ended after {echoed} of 1000 bytes");
            echoed += n;
        }

        // The link to the agent dies with the connection open (found by the soak run: a SIGKILLed agent).
        Assert.Single(tunnel.Edge.State.Sessions).Mux.Abort(Warren.Protocol.Framing.ErrorCode.InternalError, "test: link lost");

        // A clean end (0 bytes, FIN) would pass the cut off as the end of the stream; the client must see a reset.
        var error = await Assert.ThrowsAsync<SocketException>(async () =>
        {
            while (await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token) > 0)
            {
            }
        });
        Assert.Equal(SocketError.ConnectionReset, error.SocketErrorCode);
    }
}
