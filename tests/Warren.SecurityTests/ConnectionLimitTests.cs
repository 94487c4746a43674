using System.Net;
using System.Net.Sockets;
using System.Text;
using Warren.Configuration;
using Warren.SecurityTests.Harness;
using Xunit.Abstractions;

namespace Warren.SecurityTests;

/// <summary>limits.max_connections_per_ip: one host cannot take every connection slot (docs/security.md).</summary>
public sealed class ConnectionLimitTests(ITestOutputHelper output) : SecurityTest(output)
{
    private static readonly IPAddress Attacker = IPAddress.Parse("127.0.0.2");

    [Fact]
    public async Task Connections_over_the_per_ip_cap_are_refused_while_another_client_transfers()
    {
        const int cap = 4;
        var edge = await StartEdgeAsync(new HarnessOptions { Limits = new EdgeLimitsConfig { MaxConnectionsPerIp = cap } });
        var transfer = await StartTransferAsync(edge); // from 127.0.0.1: another client

        // The attacker (127.0.0.2) holds its cap of keep-alive connections, each of them served...
        var held = new List<(Socket Socket, NetworkStream Stream)>();
        try
        {
            for (var i = 0; i < cap; i++)
            {
                var socket = await RawHttp.ConnectAsync(edge.HttpPort, Attacker, CancellationToken.None);
                var stream = new NetworkStream(socket, ownsSocket: true);
                held.Add((socket, stream));
                Assert.Equal(200, await RequestAsync(stream));
            }
            // ...and every further one is closed before any byte is answered.
            for (var i = 0; i < 3; i++)
            {
                Assert.Equal("", await AttemptAsync(edge));
            }
            Assert.Equal(3, await edge.MetricAsync("warren_edge_connections_rejected_total", "reason=\"per_ip_limit\""));
            // Another client is not affected: the transfer goes on and new requests are served.
            await AssertStillServesAsync(edge);

            // A slot freed is a slot the attacker may use again.
            await held[0].Stream.DisposeAsync();
            held.RemoveAt(0);
            await Wait.UntilAsync(async () => RawHttp.StatusOf(await AttemptAsync(edge)) == 200,
                "a connection from the attacker's address to be accepted again", Wait.DefaultTimeout);
        }
        finally
        {
            foreach (var (_, stream) in held)
            {
                await stream.DisposeAsync();
            }
        }

        await transfer.CompleteAsync();
        await AssertStillServesAsync(edge);
    }

    [Fact]
    public async Task The_cap_holds_for_a_real_ipv6_client_on_loopback()
    {
        // The /64 keying is unit-tested on each limiter (tests/Warren.Edge.Tests/Limits): a loopback has one IPv6
        // address. Here the per-address cap with real sockets on ::1.
        if (!Socket.OSSupportsIPv6 || !CanBindIpv6Loopback())
        {
            Log.Note("this machine has no IPv6 loopback: only the unit-level IPv6 tests apply");
            return;
        }
        const int cap = 3;
        var edge = await StartEdgeAsync(new HarnessOptions
        {
            Limits = new EdgeLimitsConfig { MaxConnectionsPerIp = cap },
            ConfigureEdge = c => c with { Listen = c.Listen with { Http = "[::1]:0" } },
        });
        var held = new List<NetworkStream>();
        try
        {
            for (var i = 0; i < cap; i++)
            {
                var stream = new NetworkStream(await RawHttp.ConnectAsync(edge.HttpPort, null, CancellationToken.None, to: IPAddress.IPv6Loopback), ownsSocket: true);
                held.Add(stream);
                Assert.Equal(200, await RequestAsync(stream));
            }
            // The next connection from ::1 is closed unanswered and counted; the held ones are still served.
            Assert.Equal("", await AttemptAsync(edge, from: null, to: IPAddress.IPv6Loopback));
            Assert.Equal(1, await edge.MetricAsync("warren_edge_connections_rejected_total", "reason=\"per_ip_limit\""));
            foreach (var stream in held)
            {
                Assert.Equal(200, await RequestAsync(stream));
            }
        }
        finally
        {
            foreach (var stream in held)
            {
                await stream.DisposeAsync();
            }
        }
    }

    private static bool CanBindIpv6Loopback()
    {
        try
        {
            using var probe = new Socket(AddressFamily.InterNetworkV6, SocketType.Stream, ProtocolType.Tcp);
            probe.Bind(new IPEndPoint(IPAddress.IPv6Loopback, 0));
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    /// <summary>A request from the attacker's address; what came back ("" when the edge closed or reset the connection unanswered).</summary>
    private Task<string> AttemptAsync(WarrenHarness edge) => AttemptAsync(edge, Attacker, to: null);

    private static async Task<string> AttemptAsync(WarrenHarness edge, IPAddress? from, IPAddress? to)
    {
        try
        {
            return await RawHttp.ExchangeAsync(edge.HttpPort, $"GET /echo HTTP/1.1\r\nHost: {GoodHost}\r\nConnection: close\r\n\r\n", from, to);
        }
        catch (Exception ex) when (ex is SocketException or IOException)
        {
            // On loopback the reset can arrive before connect() even returns.
            return "";
        }
    }

    private static async Task<int> RequestAsync(NetworkStream stream)
    {
        using var cts = new CancellationTokenSource(Wait.DefaultTimeout);
        await stream.WriteAsync(Encoding.ASCII.GetBytes($"GET /bytes/10 HTTP/1.1\r\nHost: {GoodHost}\r\n\r\n"), cts.Token);
        var status = RawHttp.StatusOf(await RawHttp.ReadHeadAsync(stream, cts.Token));
        await stream.ReadExactlyAsync(new byte[10], cts.Token);
        return status;
    }
}
