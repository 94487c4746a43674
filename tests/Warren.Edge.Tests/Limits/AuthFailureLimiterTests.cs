using System.Net;
using Warren.Edge.Limits;

namespace Warren.Edge.Tests.Limits;

/// <summary>Failed logins per source IP (limits.max_auth_failures_per_ip): past the limit the IP is blocked, others are not.</summary>
public sealed class AuthFailureLimiterTests
{
    [Fact]
    public void Address_is_blocked_once_it_used_up_its_failures_and_other_addresses_are_not()
    {
        using var limiter = new AuthFailureLimiter(maxFailures: 3, window: TimeSpan.FromHours(1));
        var attacker = IPAddress.Parse("192.0.2.7");

        limiter.RecordFailure(attacker);
        limiter.RecordFailure(attacker);
        Assert.False(limiter.IsBlocked(attacker));
        limiter.RecordFailure(attacker);

        Assert.True(limiter.IsBlocked(attacker));
        Assert.False(limiter.IsBlocked(IPAddress.Parse("192.0.2.8")));
        Assert.False(limiter.IsBlocked(null));
    }

    [Fact]
    public void IPv4_mapped_address_counts_as_the_same_client()
    {
        using var limiter = new AuthFailureLimiter(maxFailures: 2, window: TimeSpan.FromHours(1));

        limiter.RecordFailure(IPAddress.Parse("192.0.2.7"));
        limiter.RecordFailure(IPAddress.Parse("::ffff:192.0.2.7"));

        Assert.True(limiter.IsBlocked(IPAddress.Parse("192.0.2.7")));
        Assert.True(limiter.IsBlocked(IPAddress.Parse("::ffff:192.0.2.7")));
    }
}
