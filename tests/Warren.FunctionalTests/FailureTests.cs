using System.Net;
using Warren.Configuration;
using Xunit.Abstractions;

namespace Warren.FunctionalTests;

/// <summary>What a client sees when something behind the edge is missing, down, slow or saturated.</summary>
public sealed class FailureTests(ITestOutputHelper output) : LoggedTest(output)
{
    [Fact]
    public async Task Backend_down_answers_502()
    {
        var nothingListens = new Uri($"http://127.0.0.1:{ReservePort()}");
        await using var tunnel = await WarrenHarness.StartAsync(Log, new HarnessOptions
        {
            Services = h => [h.HttpService("down", "down.test", nothingListens)],
        });

        using var response = await tunnel.GetAsync("/echo", host: "down.test");

        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
    }

    [Fact]
    public async Task Unknown_host_answers_404()
    {
        await using var tunnel = await WarrenHarness.StartAsync(Log);

        using var response = await tunnel.GetAsync("/echo", host: "nobody.test");
        using var known = await tunnel.GetAsync("/echo");

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal(HttpStatusCode.OK, known.StatusCode);
    }

    [Fact]
    public async Task Known_service_whose_agent_is_gone_answers_503()
    {
        await using var tunnel = await WarrenHarness.StartAsync(Log);
        using (var before = await tunnel.GetAsync("/echo"))
        {
            Assert.Equal(HttpStatusCode.OK, before.StatusCode);
        }

        await tunnel.StopAgentAsync();
        await tunnel.WaitUntilNoSessionAsync();
        using var response = await tunnel.GetAsync("/echo");

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
    }

    [Fact]
    public async Task Backend_slower_than_the_response_timeout_answers_504()
    {
        await using var tunnel = await WarrenHarness.StartAsync(Log, new HarnessOptions
        {
            Services = h => [h.HttpService("app", WarrenHarness.AppHost) with { ResponseTimeout = TimeSpan.FromSeconds(1) }],
        });

        using var response = await tunnel.GetAsync("/slow?ms=5000");

        Assert.Equal(HttpStatusCode.GatewayTimeout, response.StatusCode);
    }

    [Fact]
    public async Task Second_request_beyond_max_concurrency_answers_503_after_the_queue_timeout()
    {
        await using var tunnel = await WarrenHarness.StartAsync(Log, new HarnessOptions
        {
            Services = h => [h.HttpService("app", WarrenHarness.AppHost) with { MaxConcurrency = 1, QueueTimeout = TimeSpan.FromMilliseconds(200) }],
        });

        var statuses = await Task.WhenAll(Enumerable.Range(0, 2).Select(async _ =>
        {
            using var response = await tunnel.GetAsync("/slow?ms=3000");
            return response.StatusCode;
        }));

        Assert.Equal([HttpStatusCode.OK, HttpStatusCode.ServiceUnavailable], statuses.Order());
    }
}
