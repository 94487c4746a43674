using System.Net;
using System.Net.Http;
using Warren.Configuration;
using Xunit.Abstractions;

namespace Warren.ConsoleTests;

/// <summary>Byte quotas per token (docs/console.md, "Quotas"): refused with the documented 429, counts kept across a restart.</summary>
public sealed class QuotaTests(ITestOutputHelper output) : LoggedTest(output)
{
    [Fact]
    public async Task A_token_over_its_daily_quota_gets_429_saying_why_and_the_count_survives_an_edge_restart()
    {
        var edge = Own(await WarrenHarness.StartAsync(Log, new HarnessOptions
        {
            ConfigureEdge = c => c with { Tokens = [c.Tokens[0] with { Quota = new QuotaConfig { Daily = QuotaConfig.Minimum } }, .. c.Tokens.Skip(1)] },
        }));
        using (var small = await edge.GetAsync("/bytes/1000"))
        {
            Assert.Equal(HttpStatusCode.OK, small.StatusCode);
        }
        // One response larger than the whole quota: it is served (quotas judge new requests), and then the token is over.
        using (var large = await edge.GetAsync($"/bytes/{QuotaConfig.Minimum + 1000}"))
        {
            Assert.Equal(HttpStatusCode.OK, large.StatusCode);
            Assert.Equal(QuotaConfig.Minimum + 1000, (await large.Content.ReadAsByteArrayAsync()).Length);
        }
        await Wait.UntilAsync(async () => await StatusAsync(edge) == HttpStatusCode.TooManyRequests, "the token's next request is refused for its quota");
        await AssertRefusedAsync(edge);

        // The count is in warren.db: a restarted edge refuses the token's requests as soon as its agent is back.
        await edge.StopEdgeAsync();
        await edge.StartEdgeAsync();
        await edge.WaitUntilServedAsync("app");
        await AssertRefusedAsync(edge);
    }

    private static async Task<HttpStatusCode> StatusAsync(WarrenHarness edge)
    {
        using var response = await edge.GetAsync("/");
        return response.StatusCode;
    }

    private static async Task AssertRefusedAsync(WarrenHarness edge)
    {
        using var refused = await edge.GetAsync("/");
        Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
        var body = await refused.Content.ReadAsStringAsync();
        Assert.Contains("daily", body, StringComparison.Ordinal);
        Assert.Contains("tests", body, StringComparison.Ordinal); // names the token
        Assert.True(refused.Headers.RetryAfter?.Delta > TimeSpan.Zero, "a Retry-After until the day ends");
    }
}
