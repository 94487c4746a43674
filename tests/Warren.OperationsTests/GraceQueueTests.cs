using System.Net;
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
}
