using StackExchange.Redis;
using Xunit.Abstractions;

namespace Warren.ClusterTests;

/// <summary>The test Redis itself: it serves on its port, and a kill loses everything (no persistence) until it starts again.</summary>
public sealed class RedisServerTests(ITestOutputHelper output) : LoggedTest(output)
{
    [Fact]
    public async Task Redis_killed_and_started_again_serves_on_the_same_port_and_kept_nothing()
    {
        await using var redis = await RedisServer.StartAsync(Log, ReservePort());
        var options = ConfigurationOptions.Parse(redis.Configuration);
        options.AbortOnConnectFail = false;
        await using var connection = await ConnectionMultiplexer.ConnectAsync(options);
        var database = connection.GetDatabase();
        Assert.True(await database.StringSetAsync("warren:test", "1"));
        Assert.Equal("1", (string?)await database.StringGetAsync("warren:test"));

        await redis.KillAsync();
        await Wait.UntilAsync(() => !connection.IsConnected, "the client saw Redis go");
        await redis.StartAgainAsync();
        await Wait.UntilAsync(() => connection.IsConnected, "the client reconnected to the restarted Redis", TimeSpan.FromSeconds(60));
        Assert.True((await database.StringGetAsync("warren:test")).IsNull, "a restarted Redis without persistence keeps nothing");
    }
}
