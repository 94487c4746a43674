using System.Net;
using Microsoft.Extensions.Logging.Abstractions;
using Warren.Edge.Limits;

namespace Warren.Edge.Tests.Limits;

/// <summary>
/// Logins per source IP (limits.max_auth_failures_per_ip): failures and logins in progress together; past the limit
/// the IP, or its IPv6 /64, is refused, others are not.
/// </summary>
public sealed class AuthFailureLimiterTests
{
    [Fact]
    public void Address_is_blocked_once_it_used_up_its_failures_and_other_addresses_are_not()
    {
        using var limiter = new AuthFailureLimiter(maxFailures: 3, window: TimeSpan.FromHours(1), subnetFactor: 4);
        var attacker = IPAddress.Parse("192.0.2.7");

        Fail(limiter, attacker, attacker);
        Assert.False(limiter.IsBlocked(attacker));
        Fail(limiter, attacker);

        Assert.True(limiter.IsBlocked(attacker));
        Assert.Null(limiter.TryBegin(new IPEndPoint(attacker, 40001)));
        Assert.False(limiter.IsBlocked(IPAddress.Parse("192.0.2.8")));
        Assert.False(limiter.IsBlocked(null));
    }

    [Fact]
    public void IPv4_mapped_address_counts_as_the_same_client()
    {
        using var limiter = new AuthFailureLimiter(maxFailures: 2, window: TimeSpan.FromHours(1), subnetFactor: 4);

        Fail(limiter, IPAddress.Parse("192.0.2.7"), IPAddress.Parse("::ffff:192.0.2.7"));

        Assert.True(limiter.IsBlocked(IPAddress.Parse("192.0.2.7")));
        Assert.True(limiter.IsBlocked(IPAddress.Parse("::ffff:192.0.2.7")));
    }

    [Fact]
    public void Logins_in_progress_count_like_failures_until_they_end()
    {
        using var limiter = new AuthFailureLimiter(maxFailures: 2, window: TimeSpan.FromHours(1), subnetFactor: 2);
        var client = IPAddress.Parse("192.0.2.9");

        using var one = limiter.TryBegin(new IPEndPoint(client, 1001));
        using var two = limiter.TryBegin(new IPEndPoint(client, 1002));
        Assert.NotNull(one);
        Assert.NotNull(two);
        Assert.Null(limiter.TryBegin(new IPEndPoint(client, 1003))); // two at once are the limit: a third waits its turn
        limiter.Succeeded(new IPEndPoint(client, 1002)); // the place is free again, and no failure counted
        using var three = limiter.TryBegin(new IPEndPoint(client, 1004));
        Assert.NotNull(three);
        limiter.RecordFailure(new IPEndPoint(client, 1001)); // ends that attempt as a failure
        limiter.RecordFailure(new IPEndPoint(client, 1004));
        Assert.True(limiter.IsBlocked(client));
        Assert.Null(limiter.TryBegin(new IPEndPoint(client, 1005)));
    }

    [Fact]
    public void An_ipv6_64_shares_a_larger_limit()
    {
        // Limit 2 per address, 2 × 2 per /64: A1 uses its 2 and is blocked; A2's 2 fill the /64, so A3 is blocked
        // without a failure of its own.
        using var limiter = new AuthFailureLimiter(maxFailures: 2, window: TimeSpan.FromHours(1), subnetFactor: 2);
        Fail(limiter, Addresses.A1, Addresses.A1);
        Assert.True(limiter.IsBlocked(Addresses.A1));
        Assert.False(limiter.IsBlocked(Addresses.A2));
        Fail(limiter, Addresses.A2, Addresses.A2);
        Assert.True(limiter.IsBlocked(Addresses.A3));
        Assert.Null(limiter.TryBegin(new IPEndPoint(Addresses.A3, 40001)));
        Assert.False(limiter.IsBlocked(Addresses.OtherSubnet));
    }

    [Fact]
    public void The_agents_listener_guard_caps_connections_and_logins_per_address_and_64()
    {
        using var limiter = new AuthFailureLimiter(maxFailures: 2, window: TimeSpan.FromHours(1), subnetFactor: 2);
        var guard = new AgentListenerGuard(maxConnectionsPerIp: 1, subnetFactor: 2, limiter, NullLogger.Instance);

        using var first = guard.TryAdmit(new IPEndPoint(Addresses.A1, 1001));
        using var second = guard.TryAdmit(new IPEndPoint(Addresses.A2, 1002));
        Assert.NotNull(first);
        Assert.NotNull(second);
        Assert.Null(guard.TryAdmit(new IPEndPoint(Addresses.A1, 1003))); // A1 holds its 1
        Assert.Null(guard.TryAdmit(new IPEndPoint(Addresses.A3, 1004))); // the /64 holds its 1 × 2
        Assert.Equal(2, guard.RejectedPerIp);

        // The other /64: its first login fails twice over, then it is refused before any TLS work.
        for (var port = 2001; port <= 2002; port++)
        {
            using var admitted = guard.TryAdmit(new IPEndPoint(Addresses.OtherSubnet, port));
            Assert.NotNull(admitted);
            limiter.RecordFailure(new IPEndPoint(Addresses.OtherSubnet, port));
        }
        Assert.Null(guard.TryAdmit(new IPEndPoint(Addresses.OtherSubnet, 2003)));
        Assert.Equal(1, guard.RejectedLogins);
    }

    private static void Fail(AuthFailureLimiter limiter, params IPAddress[] addresses)
    {
        foreach (var address in addresses)
        {
            var attempt = limiter.TryBegin(new IPEndPoint(address, 40000));
            Assert.NotNull(attempt);
            attempt.Failed();
        }
    }
}
