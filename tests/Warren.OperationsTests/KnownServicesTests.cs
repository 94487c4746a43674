using System.Net;
using Warren.Configuration;
using Warren.OperationsTests.Harness;
using Xunit.Abstractions;

namespace Warren.OperationsTests;

/// <summary>
/// The edge remembers the services it routed across its own restart (warren.db): a hostname or TCP port it knew waits
/// in the grace queue and answers 503 past it, never 404 or refused as if gone, until the agent registers it again or
/// grace.remember passes (docs/operations.md, "The grace queue").
/// </summary>
public sealed class KnownServicesTests(ITestOutputHelper output) : LoggedTest(output)
{
    [Fact]
    public async Task After_an_edge_restart_requests_and_a_TCP_connection_for_known_services_wait_for_the_agent_and_its_policy_still_applies()
    {
        var port = ReservePort();
        await using var tunnel = await WarrenHarness.StartAsync(Log, new HarnessOptions
        {
            AllowPorts = [port],
            Services = h =>
            [
                h.HttpService("app", WarrenHarness.AppHost),
                h.HttpService("locked", "locked.test") with { Policy = new PolicyConfig { Ip = new() { Deny = ["127.0.0.0/8"] } } },
                new ServiceConfig { Name = "echo", Port = port, Target = new Uri($"tcp://127.0.0.1:{h.TcpEcho.Port}") },
            ],
            ConfigureEdge = c => c with { Grace = new GraceConfig { Timeout = TimeSpan.FromSeconds(60) } },
        });
        await tunnel.Edge.Known.FlushAsync();
        await tunnel.StopAgentAsync();
        await tunnel.StopEdgeAsync();
        await tunnel.StartEdgeAsync();

        using var timeout = new CancellationTokenSource(TestTimeout);
        var app = tunnel.GetAsync("/echo", cancellationToken: timeout.Token);
        var locked = tunnel.GetAsync("/echo", "locked.test", timeout.Token);
        // The port listens again at once, and the connection waits instead of being refused.
        using var connection = await EchoConnection.ConnectAsync(port, timeout.Token);
        var echoed = connection.EchoAsync("made before the agent came back", timeout.Token);
        await Wait.UntilAsync(async () => await tunnel.MetricAsync("warren_service_grace_waiting", "service=\"app\"") == 1
            && await tunnel.MetricAsync("warren_service_grace_waiting", "service=\"locked\"") == 1
            && await tunnel.MetricAsync("warren_service_grace_waiting", "service=\"echo\"") == 1, "the request, the locked one and the connection wait for the agent");
        Assert.False(app.IsCompleted, "the request waits");

        await tunnel.StartAgentAsync();
        using var served = await app;
        Assert.Equal(HttpStatusCode.OK, served.StatusCode);
        Assert.Equal("made before the agent came back", await echoed);
        // The restored service waited for its registration, and with it its policy: the address it denies is refused.
        using var refused = await locked;
        Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
    }

    [Fact]
    public async Task After_an_edge_restart_a_known_hostname_answers_503_past_the_grace_and_404_once_grace_remember_passed()
    {
        await using var tunnel = await WarrenHarness.StartAsync(Log, new HarnessOptions
        {
            ConfigureEdge = c => c with { Grace = new GraceConfig { Timeout = TimeSpan.FromMilliseconds(300), Remember = TimeSpan.FromSeconds(3) } },
        });
        await tunnel.Edge.Known.FlushAsync();
        await tunnel.StopAgentAsync();
        await tunnel.StopEdgeAsync();
        await tunnel.StartEdgeAsync();

        using (var known = await tunnel.GetAsync("/echo"))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, known.StatusCode);
        }
        using (var unknown = await tunnel.GetAsync("/echo", "nobody.test"))
        {
            Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        }
        Assert.Equal(1, await tunnel.MetricAsync("warren_service_grace_waits_total", "service=\"app\"", "outcome=\"timed_out\""));
        await Wait.UntilAsync(async () =>
        {
            using var response = await tunnel.GetAsync("/echo");
            return response.StatusCode == HttpStatusCode.NotFound;
        }, "grace.remember passes and the service no agent registered again is forgotten", TimeSpan.FromSeconds(60));
    }
}
