namespace Warren.Configuration.Tests;

/// <summary>shield in edge.yaml (docs/configuration.md; docs/policy.md, "Abuse shield"): defaults, every key, and each mistake named.</summary>
public sealed class ShieldConfigTests : IDisposable
{
    private readonly TestFiles _files = new();

    public void Dispose() => _files.Dispose();

    [Fact]
    public void Defaults_ban_after_20_auth_failures_or_300_limit_hits_in_10_minutes_for_an_hour()
    {
        var shield = ConfigLoader.LoadEdge(_files.Write("edge.yaml", "data: ./state\n"), TestFiles.NoEnvironment).Shield;

        Assert.True(shield.Enabled);
        Assert.Equal(20, shield.AuthFailures);
        Assert.Equal(300, shield.LimitHits);
        Assert.Equal(TimeSpan.FromMinutes(10), shield.Window);
        Assert.Equal(TimeSpan.FromHours(1), shield.BanTime);
        Assert.Equal(100_000, shield.MaxBans);
        Assert.Empty(shield.Exempt);
        Assert.Equal(32, shield.Ipv4Prefix);
        Assert.Equal(64, shield.Ipv6Prefix);
    }

    [Fact]
    public void Every_key_is_read_and_the_environment_overrides_one()
    {
        var path = _files.Write("edge.yaml", "shield:\n  enabled: false\n  auth_failures: 5\n  limit_hits: 0\n  window: 1m\n  ban_time: 24h\n  max_bans: 50\n  exempt: [192.0.2.0/24, \"2001:db8::1\"]\n  ipv4_prefix: 24\n  ipv6_prefix: 56\n");
        var environment = TestFiles.NoEnvironment;
        environment["WARREN_SHIELD__AUTH_FAILURES"] = "7";

        var shield = ConfigLoader.LoadEdge(path, environment).Shield;

        Assert.False(shield.Enabled);
        Assert.Equal(7, shield.AuthFailures);
        Assert.Equal(0, shield.LimitHits);
        Assert.Equal(TimeSpan.FromMinutes(1), shield.Window);
        Assert.Equal(TimeSpan.FromHours(24), shield.BanTime);
        Assert.Equal(50, shield.MaxBans);
        Assert.Equal(["192.0.2.0/24", "2001:db8::1"], shield.Exempt);
        Assert.Equal(24, shield.Ipv4Prefix);
        Assert.Equal(56, shield.Ipv6Prefix);
    }

    [Theory]
    [InlineData("auth_failures: -1", "shield.auth_failures", "must be 0 to 1000000")]
    [InlineData("window: 0s", "shield.window", "must be 1s to 86400s")]
    [InlineData("ban_time: 9000h", "shield.ban_time", "must be 1s to")]
    [InlineData("max_bans: 0", "shield.max_bans", "must be 1 to")]
    [InlineData("exempt: [10.0.0.1/8]", "shield.exempt[0]", "is not an IP address or CIDR range")]
    [InlineData("bans: 3", "shield.bans", "")]
    [InlineData("ipv4_prefix: 8", "shield.ipv4_prefix", "must be 16 to 32")]
    [InlineData("ipv6_prefix: 129", "shield.ipv6_prefix", "must be 32 to 128")]
    public void Bad_values_are_errors(string body, string field, string message)
    {
        var path = _files.Write("edge.yaml", $"shield:\n  {body}\n");

        var errors = TestFiles.EdgeErrors(path);

        Assert.Contains(errors, e => e.Path == field && e.Message.Contains(message, StringComparison.Ordinal));
    }
}
