using System.Collections.Concurrent;
using System.Net;
using System.Net.Http;
using Xunit.Abstractions;

namespace Warren.FunctionalTests;

public sealed class ManyServicesTests(ITestOutputHelper output) : LoggedTest(output)
{
    [Fact]
    public async Task Fifty_seven_services_through_one_session_are_all_routable_as_soon_as_the_agent_is_ready()
    {
        const int count = 57;
        await using var tunnel = await WarrenHarness.StartAsync(Log, new HarnessOptions
        {
            AllowHosts = ["*.test"],
            Services = h => [.. Enumerable.Range(1, count).Select(i => h.HttpService($"s{i}", $"s{i}.test"))],
        });
        // StartAsync returned the moment agent.IsReady became true: no further waiting before the requests.
        Assert.Equal(1, tunnel.Agent!.ConnectedSessions);

        var responses = await Task.WhenAll(Enumerable.Range(1, count).Select(async i =>
        {
            using var response = await tunnel.GetAsync($"/echo?service={i}", host: $"s{i}.test");
            return (i, response.StatusCode, Body: await response.Content.ReadAsStringAsync());
        }));

        foreach (var (i, status, body) in responses)
        {
            Assert.True(status == HttpStatusCode.OK, $"s{i}.test answered {(int)status}: {body}");
            Assert.StartsWith($"GET /echo?service={i}\n", body, StringComparison.Ordinal);
            Assert.Contains($"\nHost: s{i}.test\n", body, StringComparison.Ordinal);
        }
        Assert.Equal(1, tunnel.Edge.SessionCount);
    }
}

public sealed class ConcurrencyTests(ITestOutputHelper output) : LoggedTest(output)
{
    [Fact]
    public async Task Thousand_concurrent_requests_through_one_session_all_succeed()
    {
        const int count = 1000;
        await using var tunnel = await WarrenHarness.StartAsync(Log);
        using var client = TestClients.Create(maxConnections: 2 * count);
        var errors = new ConcurrentQueue<string>();
        var start = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        var requests = Enumerable.Range(0, count).Select(i => Task.Run(async () =>
        {
            await start.Task;
            try
            {
                using var request = tunnel.Request(HttpMethod.Get, $"/echo?i={i}");
                using var response = await client.SendAsync(request);
                var body = await response.Content.ReadAsStringAsync();
                if (response.StatusCode != HttpStatusCode.OK || !body.StartsWith($"GET /echo?i={i}\n", StringComparison.Ordinal))
                {
                    errors.Enqueue($"request {i}: {(int)response.StatusCode} {body[..Math.Min(body.Length, 80)]}");
                }
            }
            catch (Exception ex) when (ex is HttpRequestException or IOException or TaskCanceledException)
            {
                errors.Enqueue($"request {i}: {ex.GetType().Name}: {ex.Message}");
            }
        })).ToArray();
        start.SetResult();
        await Wait.WithTimeoutAsync(Task.WhenAll(requests), TestTimeout, $"{count} concurrent requests");

        Assert.True(errors.IsEmpty, $"{errors.Count} of {count} requests failed:\n{string.Join('\n', errors.Take(20))}");
        Assert.Equal(1, tunnel.Edge.SessionCount);
        Assert.Equal(1, tunnel.Agent!.ConnectedSessions);
    }
}
