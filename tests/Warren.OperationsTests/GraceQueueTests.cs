using System.Net;
using System.Net.Sockets;
using Warren.Configuration;
using Xunit.Abstractions;

namespace Warren.OperationsTests;

/// <summary>The grace queue's bounds (docs/operations.md, "The grace queue"; docs/security.md): its time and its count.</summary>
public sealed class GraceQueueTests(ITestOutputHelper output) : LoggedTest(output)
{
    [Fact]
    public async Task Past_the_grace_a_request_for_a_known_host_gets_503_never_404_and_the_timeout_is_counted()
    {
        await using var tunnel = await WarrenHarness.StartAsync(Log, new HarnessOptions
        {
            ConfigureEdge = c => c with { Grace = new GraceConfig { Timeout = TimeSpan.FromMilliseconds(300) } },
        });
        await tunnel.StopAgentAsync();
        await tunnel.WaitUntilNoSessionAsync();

        using var response = await tunnel.GetAsync("/echo");

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal(1, await tunnel.MetricAsync("warren_service_grace_waits_total", "service=\"app\"", "outcome=\"timed_out\""));
    }

    [Fact]
    public async Task With_max_waiting_requests_queued_the_next_is_answered_503_at_once_and_the_queued_one_is_served_when_the_agent_returns()
    {
        await using var tunnel = await WarrenHarness.StartAsync(Log, new HarnessOptions
        {
            ConfigureEdge = c => c with { Grace = new GraceConfig { Timeout = TimeSpan.FromSeconds(60), MaxWaiting = 1 } },
        });
        await tunnel.StopAgentAsync();
        await tunnel.WaitUntilNoSessionAsync();

        var queued = tunnel.GetAsync("/echo");
        await Wait.UntilAsync(async () => await tunnel.MetricAsync("warren_service_grace_waiting", "service=\"app\"") == 1, "one request waits in the grace queue");
        using var rejected = await tunnel.GetAsync("/echo");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, rejected.StatusCode);
        Assert.False(queued.IsCompleted, "the queued request still waits");
        Assert.Equal(1, await tunnel.MetricAsync("warren_service_grace_waits_total", "service=\"app\"", "outcome=\"rejected\""));

        await tunnel.StartAgentAsync();
        using var served = await queued;
        Assert.Equal(HttpStatusCode.OK, served.StatusCode);
    }

    [Fact]
    public async Task A_request_waiting_in_the_grace_queue_when_the_edge_hands_its_sockets_over_is_refused_unprocessed_at_once()
    {
        // An upgraded edge's agents move to the new edge (docs/operations.md, "Upgrading the edge without refusing
        // anyone"), so a request waiting here for a session would wait out the grace, then be cut by the drain. It
        // ends at once with a FIN where the response would start, which clients answer by sending it again (there, to
        // the new edge), never with a reset or a 503.
        await using var tunnel = await WarrenHarness.StartAsync(Log, new HarnessOptions
        {
            ConfigureEdge = c => c with { Grace = new GraceConfig { Timeout = TimeSpan.FromSeconds(60) } },
        });
        await tunnel.StopAgentAsync();
        await tunnel.WaitUntilNoSessionAsync();
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await client.ConnectAsync(IPAddress.Loopback, tunnel.HttpPort);
        await client.SendAsync("GET /echo HTTP/1.1\r\nHost: app.test\r\n\r\n"u8.ToArray());
        await Wait.UntilAsync(async () => await tunnel.MetricAsync("warren_service_grace_waiting", "service=\"app\"") == 1, "the request waits in the grace queue");

        tunnel.Edge.State.Routes.HandOver();

        var buffer = new byte[256];
        var read = await client.ReceiveAsync(buffer).WaitAsync(Wait.DefaultTimeout); // a reset would throw here
        Assert.True(read == 0, $"a response where none was due: {System.Text.Encoding.ASCII.GetString(buffer, 0, read)}");
        Assert.Equal(0, await tunnel.MetricAsync("warren_service_grace_waiting", "service=\"app\""));
    }
}
