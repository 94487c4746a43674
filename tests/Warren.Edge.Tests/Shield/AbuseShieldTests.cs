using System.Net;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Warren.Configuration;
using Warren.Edge.Shield;

namespace Warren.Edge.Tests.Shield;

/// <summary>
/// What the abuse shield counts and bans (docs/policy.md, "Abuse shield"): an IPv4 address, an IPv6 /64, or the /N of
/// shield.ipv4_prefix and shield.ipv6_prefix; bans of another size (a reload, the admin API) still hold.
/// </summary>
public sealed class AbuseShieldTests
{
    private static AbuseShield Create(ShieldConfig config) =>
        new(config, store: null, new FakeTimeProvider(DateTimeOffset.UtcNow), NullLogger.Instance);

    private static IPAddress Ip(string text) => IPAddress.Parse(text);

    [Fact]
    public async Task Strikes_from_addresses_of_one_ipv6_64_add_up_and_ban_the_64_only()
    {
        await using var shield = Create(new ShieldConfig { AuthFailures = 3 });

        shield.Strike(Ip("2001:db8:1:2::1"), StrikeKind.AuthFailure);
        shield.Strike(Ip("2001:db8:1:2::2"), StrikeKind.AuthFailure);
        Assert.False(shield.IsBanned(Ip("2001:db8:1:2::1")));
        shield.Strike(Ip("2001:db8:1:2:ffff::3"), StrikeKind.AuthFailure);

        Assert.True(shield.IsBanned(Ip("2001:db8:1:2:aaaa:bbbb:cccc:dddd")));
        Assert.False(shield.IsBanned(Ip("2001:db8:1:3::1")));
        Assert.Equal("2001:db8:1:2::/64", BanKey.Format(Assert.Single(shield.List()).Network));
    }

    [Fact]
    public async Task A_ban_in_force_banned_again_is_counted_once_and_one_banned_again_after_it_ran_out_twice()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var shield = new AbuseShield(new ShieldConfig { AuthFailures = 1 }, store: null, time, NullLogger.Instance);
        var registry = Prometheus.Metrics.NewCustomRegistry();
        shield.Metrics = new ShieldMetrics(registry, () => 0);
        var network = shield.NetworkOf(Ip("192.0.2.9"));

        shield.Ban(network, TimeSpan.FromMinutes(5), "by hand");
        shield.Ban(network, TimeSpan.FromMinutes(10), "by hand, longer"); // replaces the ban in force
        shield.Strike(Ip("192.0.2.9"), StrikeKind.AuthFailure);          // a late strike while banned: nothing
        Assert.Equal(1, await BansAsync(registry, "admin"));
        Assert.Equal(0, await BansAsync(registry, "auth_failures"));

        time.Advance(TimeSpan.FromMinutes(11));
        shield.Strike(Ip("192.0.2.9"), StrikeKind.AuthFailure); // the ban ran out: this one bans again
        Assert.True(shield.IsBanned(Ip("192.0.2.9")));
        Assert.Equal(1, await BansAsync(registry, "auth_failures"));
    }

    private static async Task<double> BansAsync(Prometheus.CollectorRegistry registry, string reason)
    {
        using var text = new MemoryStream();
        await registry.CollectAndExportAsTextAsync(text);
        var line = System.Text.Encoding.UTF8.GetString(text.ToArray()).Split('\n')
            .FirstOrDefault(l => l.StartsWith($"warren_shield_bans_total{{reason=\"{reason}\"}}", StringComparison.Ordinal));
        return line is null ? 0 : double.Parse(line[(line.LastIndexOf(' ') + 1)..], System.Globalization.CultureInfo.InvariantCulture);
    }

    [Fact]
    public async Task Ipv4_addresses_are_banned_alone_by_default_and_by_their_prefix_when_configured()
    {
        await using (var alone = Create(new ShieldConfig { AuthFailures = 1 }))
        {
            alone.Strike(Ip("192.0.2.7"), StrikeKind.AuthFailure);
            Assert.True(alone.IsBanned(Ip("192.0.2.7")));
            Assert.True(alone.IsBanned(Ip("::ffff:192.0.2.7"))); // the same client on a dual-stack socket
            Assert.False(alone.IsBanned(Ip("192.0.2.8")));
            Assert.Equal("192.0.2.7", BanKey.Format(Assert.Single(alone.List()).Network));
        }
        await using var wide = Create(new ShieldConfig { AuthFailures = 1, Ipv4Prefix = 24, Ipv6Prefix = 128 });
        wide.Strike(Ip("192.0.2.7"), StrikeKind.AuthFailure);
        Assert.True(wide.IsBanned(Ip("192.0.2.200")));
        Assert.False(wide.IsBanned(Ip("192.0.3.7")));
        wide.Strike(Ip("2001:db8::1"), StrikeKind.AuthFailure);
        Assert.True(wide.IsBanned(Ip("2001:db8::1")));
        Assert.False(wide.IsBanned(Ip("2001:db8::2")));
    }

    [Fact]
    public async Task Bans_of_an_older_prefix_hold_after_a_reload_and_lifting_an_address_lifts_every_ban_covering_it()
    {
        await using var shield = Create(new ShieldConfig { AuthFailures = 1 });
        shield.Strike(Ip("2001:db8:1:2::1"), StrikeKind.AuthFailure); // its /64
        shield.Configure(new ShieldConfig { AuthFailures = 1, Ipv6Prefix = 128 });
        shield.Strike(Ip("2001:db8:9::1"), StrikeKind.AuthFailure); // the address alone
        Assert.NotNull(shield.Ban(IPNetwork.Parse("2001:db8:1::/48"), TimeSpan.FromHours(1), "by hand"));

        Assert.True(shield.IsBanned(Ip("2001:db8:1:2::5")));
        Assert.True(shield.IsBanned(Ip("2001:db8:1:7::5")));
        Assert.True(shield.IsBanned(Ip("2001:db8:9::1")));
        Assert.False(shield.IsBanned(Ip("2001:db8:9::2")));
        Assert.Equal(3, shield.Count);

        Assert.True(shield.Lift(Ip("2001:db8:1:2::5"))); // its /64 and the /48
        Assert.False(shield.IsBanned(Ip("2001:db8:1:2::5")));
        Assert.True(shield.IsBanned(Ip("2001:db8:9::1")));
        Assert.Equal(1, shield.Count);
    }
}
