using System.Net;
using Xunit.Abstractions;

namespace Warren.FunctionalTests;

public sealed class LongPollTests(ITestOutputHelper output) : LoggedTest(output)
{
    [Fact]
    public async Task A_request_held_open_for_30_seconds_completes_with_200()
    {
        await using var tunnel = await WarrenHarness.StartAsync(Log);

        using var response = await tunnel.GetAsync("/slow?ms=30000");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("slow response\n", await response.Content.ReadAsStringAsync());
    }
}
