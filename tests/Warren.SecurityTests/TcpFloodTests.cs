using System.Net;
using System.Net.Http;
using System.Net.Sockets;
using Warren.Configuration;
using Warren.SecurityTests.Harness;
using Xunit.Abstractions;
using SessionOptions = Warren.Protocol.Session.SessionOptions;

namespace Warren.SecurityTests;

/// <summary>
/// Idle connections flooding a published TCP port (docs/security.md "TCP services"): they must not stop new clients
/// of that service nor delay any other service of the same agent. The agent queues a stream it has no slot for, and
/// these tests give that queue 5 minutes: anything stuck behind the flood would never be answered within the test.
/// </summary>
public sealed class TcpFloodTests(ITestOutputHelper output) : SecurityTest(output)
{
    private const string WebHost = "web2.test";
    private static readonly IPAddress Attacker = IPAddress.Parse("127.0.0.2");
    private static readonly IPAddress Other = IPAddress.Parse("127.0.0.3");

    [Fact]
    public async Task Seven_hundred_idle_connections_from_one_address_leave_new_clients_and_other_services_served()
    {
        // Defaults: 128 connections per address per TCP service, 256 slots per service on the agent.
        var (edge, port) = await StartTcpEdgeAsync(new EdgeLimitsConfig(), slots: 256);
        var transfer = await StartTransferAsync(edge);
        var idle = new List<Socket>();
        try
        {
            for (var i = 0; i < 700; i++)
            {
                if (await RawHttp.TryConnectAsync(port, Attacker) is { } socket)
                {
                    idle.Add(socket);
                }
            }
            var cap = new EdgeLimitsConfig().MaxTcpConnectionsPerIp;
            await Wait.UntilAsync(async () => await edge.MetricAsync("warren_service_rejected_total", "service=\"echo\"", "reason=\"per_ip_limit\"") >= 700 - cap,
                $"the edge to refuse the {700 - cap} connections over the per-address cap", TimeSpan.FromSeconds(60));
            Assert.Equal(cap, await edge.MetricAsync("warren_service_tcp_connections_open", "service=\"echo\""));

            // Another service of the same agent answers, and a client from another address reaches the TCP service.
            await AssertServedAsync(edge);
            await AssertEchoesAsync(port, Other);
        }
        finally
        {
            foreach (var socket in idle)
            {
                socket.Dispose();
            }
        }
        await transfer.CompleteAsync();
        await AssertStillServesAsync(edge);
    }

    [Fact]
    public async Task A_service_whose_agent_queue_is_full_cannot_hold_the_sessions_pending_opens_and_its_waiters_time_out()
    {
        // The agent accepts a stream only once the service has a free slot: with 2 slots every further connection
        // waits as a pending open. The session's pending-open budget is 16 here (256 by default), of which one service
        // may hold half; the per-address cap is lifted so the flood reaches the agent.
        const int budget = 16;
        var (edge, port) = await StartTcpEdgeAsync(new EdgeLimitsConfig { MaxTcpConnectionsPerIp = 1000 }, slots: 2, session: s =>
        {
            s.MaxPendingOpens = budget;
            s.OpenTimeout = TimeSpan.FromSeconds(5);
        });
        var idle = new List<Socket>();
        try
        {
            for (var i = 0; i < 3 * budget; i++)
            {
                if (await RawHttp.TryConnectAsync(port, Attacker) is { } socket)
                {
                    idle.Add(socket);
                }
            }
            var session = edge.Edge.State.Sessions.Single(s => s.AgentName == "tcp-agent");
            await Wait.UntilAsync(() => edge.Edge.State.Routes.Services.Any(s => s.Name == "echo")
                && session.Mux.StreamCount >= 2 + budget / 2, "the flood to hold the agent's 2 slots and the service's share of pending opens", TimeSpan.FromSeconds(30));

            // The other half of the budget is left: another service of the same agent answers at once.
            await AssertServedAsync(edge);

            // Every wait has a timeout: the connections still waiting for a pending-open place, or for the agent to
            // accept, are closed after the open timeout and counted as overloaded.
            await Wait.UntilAsync(async () => await edge.MetricAsync("warren_service_errors_total", "service=\"echo\"", "kind=\"overloaded\"") >= budget,
                "connections waiting behind the full queue to be given up after the open timeout", TimeSpan.FromSeconds(60));
            await AssertServedAsync(edge);
        }
        finally
        {
            foreach (var socket in idle)
            {
                socket.Dispose();
            }
        }
        await AssertStillServesAsync(edge);
    }

    /// <summary>
    /// An edge with a second agent serving a TCP echo service ("echo", on a free port, <paramref name="slots"/> slots,
    /// a 5-minute queue) and an HTTP service ("web2") on the same session.
    /// </summary>
    private async Task<(WarrenHarness Edge, int Port)> StartTcpEdgeAsync(EdgeLimitsConfig limits, int slots, Action<SessionOptions>? session = null)
    {
        var port = ReservePort();
        var token = WarrenHarness.NewToken();
        var sessionOptions = new SessionOptions { HandshakeTimeout = TimeSpan.FromSeconds(5) };
        session?.Invoke(sessionOptions);
        var edge = await StartEdgeAsync(new HarnessOptions { Limits = limits, ExtraTokens = [WarrenHarness.Grant("tcp", token, [WebHost], [port])], EdgeSession = sessionOptions });
        var echo = edge.TcpEcho;
        await edge.StartOtherAgentAsync(token, "tcp-agent",
        [
            new ServiceConfig { Name = "echo", Port = port, Target = new Uri($"tcp://127.0.0.1:{echo.Port}"), MaxConcurrency = slots, QueueTimeout = TimeSpan.FromMinutes(5) },
            edge.HttpService("web2", WebHost),
        ]);
        await Wait.UntilAsync(() => edge.Edge.State.Routes.MatchPort(port) is not null, "the TCP service to be published", Wait.DefaultTimeout);
        return (edge, port);
    }

    private async Task AssertServedAsync(WarrenHarness edge)
    {
        for (var i = 0; i < 3; i++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, edge.Url("/echo"));
            request.Headers.Host = WebHost;
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            using var response = await Client.SendAsync(request, timeout.Token);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }
    }

    private static async Task AssertEchoesAsync(int port, IPAddress from)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        using var socket = await RawHttp.ConnectAsync(port, from, timeout.Token);
        await socket.SendAsync("ping\n"u8.ToArray(), SocketFlags.None, timeout.Token);
        var buffer = new byte[5];
        var received = 0;
        while (received < buffer.Length)
        {
            var n = await socket.ReceiveAsync(buffer.AsMemory(received), SocketFlags.None, timeout.Token);
            Assert.True(n > 0, "the TCP service closed a new client's connection");
            received += n;
        }
        Assert.Equal("ping\n"u8.ToArray(), buffer);
    }
}
