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
        await AssertResetAsync(socket, timeout.Token);
    }

    [Fact]
    public async Task Client_reaching_a_port_no_session_serves_gets_a_reset_when_the_grace_queue_is_full_and_when_the_grace_ends()
    {
        var edgePort = ReservePort();
        await using var tunnel = await WarrenHarness.StartAsync(Log, new HarnessOptions
        {
            AllowPorts = [edgePort],
            Services = h => [new ServiceConfig { Name = "echo", Port = edgePort, Target = new Uri($"tcp://127.0.0.1:{h.TcpEcho.Port}") }],
            // The port keeps listening through the grace, and one connection may wait in the grace queue.
            ConfigureEdge = c => c with { Grace = new GraceConfig { Timeout = TimeSpan.FromSeconds(10), MaxWaiting = 1 } },
        });
        using var timeout = new CancellationTokenSource(TestTimeout);
        await tunnel.StopAgentAsync();
        await tunnel.WaitUntilNoSessionAsync();
        Log.Note("no session serves the port");

        using var waiting = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await waiting.ConnectAsync(new IPEndPoint(IPAddress.Loopback, edgePort), timeout.Token);
        await Wait.UntilAsync(async () => await tunnel.MetricAsync("warren_service_grace_waiting", "service=\"echo\"") == 1, "one connection waits in the grace queue");
        using var overflow = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        // Nobody serves it: refused with a reset, where a FIN read as a service that accepted and had nothing to say;
        // at once past the queue's count, and at the end of the grace for the one that waited. The edge accepts and
        // resets the second one so fast that the reset can arrive before the client's connect has completed.
        try
        {
            await overflow.ConnectAsync(new IPEndPoint(IPAddress.Loopback, edgePort), timeout.Token);
            Log.Note("one connection waits, a second one connected");
            await AssertResetAsync(overflow, timeout.Token);
        }
        catch (SocketException ex) when (ex.SocketErrorCode == SocketError.ConnectionReset)
        {
            Log.Note("the second one was reset while connecting");
        }
        Log.Note("the second one was reset");
        await AssertResetAsync(waiting, timeout.Token);
        Assert.Equal(1, await tunnel.MetricAsync("warren_service_grace_waits_total", "service=\"echo\"", "outcome=\"rejected\""));
        Assert.Equal(1, await tunnel.MetricAsync("warren_service_grace_waits_total", "service=\"echo\"", "outcome=\"timed_out\""));
    }

    [Fact]
    public async Task Client_that_resets_has_the_agent_reset_the_backend_connection()
    {
        var edgePort = ReservePort();
        using var backend = new TcpListener(IPAddress.Loopback, 0);
        backend.Start();
        await using var tunnel = await WarrenHarness.StartAsync(Log, new HarnessOptions
        {
            AllowPorts = [edgePort],
            Services = _ => [new ServiceConfig { Name = "db", Port = edgePort, Target = new Uri($"tcp://127.0.0.1:{((IPEndPoint)backend.LocalEndpoint).Port}") }],
        });
        using var timeout = new CancellationTokenSource(TestTimeout);
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await client.ConnectAsync(new IPEndPoint(IPAddress.Loopback, edgePort), timeout.Token);
        await client.SendAsync("hello"u8.ToArray(), SocketFlags.None, timeout.Token);
        using var server = await backend.AcceptSocketAsync(timeout.Token);
        var buffer = new byte[16];
        for (var received = 0; received < 5;)
        {
            received += await server.ReceiveAsync(buffer.AsMemory(received), SocketFlags.None, timeout.Token);
        }

        client.LingerState = new LingerOption(true, 0);
        client.Close(); // the client crashes: a reset, and the edge resets the tunnel stream

        // A FIN told the backend its client had finished; a database or an upload handler took a cut exchange for a whole one.
        await AssertResetAsync(server, timeout.Token);
        // Each side logs which end cut the connection: the edge its client, the agent the edge's stream.
        await Log.WaitForAsync(Wait.DefaultTimeout, "[TcpClientReset]", "db");
        await Log.WaitForAsync(Wait.DefaultTimeout, "[EdgeReset]", "db");
    }

    /// <summary>Reads until the connection ends, and asserts it ended with a reset, not a clean end of stream.</summary>
    private static async Task AssertResetAsync(Socket socket, CancellationToken cancellationToken)
    {
        var buffer = new byte[4096];
        var error = await Assert.ThrowsAsync<SocketException>(async () =>
        {
            while (await socket.ReceiveAsync(buffer, SocketFlags.None, cancellationToken) > 0)
            {
            }
        });
        Assert.Equal(SocketError.ConnectionReset, error.SocketErrorCode);
    }
}
