using System.Net;
using Microsoft.AspNetCore.Connections;
using Warren.Edge.Limits;

namespace Warren.Edge.Tests.Limits;

/// <summary>
/// limits.max_connections_per_ip (and max_agent_connections_per_ip, the same limiter): connections past the cap from one
/// address, or from one IPv6 /64, are closed before any byte is read.
/// </summary>
public sealed class PerIpConnectionLimiterTests
{
    [Fact]
    public async Task Ipv4_mapped_ipv6_addresses_count_as_the_same_ip()
    {
        // Unit level: a dual-stack listener would show the same client as 127.0.0.2 on one socket and
        // ::ffff:127.0.0.2 on another; both must draw on one allowance (CVE-2026-2455 was such a bypass).
        var limiter = new PerIpConnectionLimiter(maxPerIp: 2, subnetFactor: 4);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var served = 0;
        var middleware = limiter.Middleware(async _ =>
        {
            Interlocked.Increment(ref served);
            await release.Task;
        });
        var v4 = IPAddress.Parse("127.0.0.2");
        var mapped = v4.MapToIPv6();
        Assert.True(mapped.IsIPv4MappedToIPv6);

        var first = middleware(Connection(v4));
        var second = middleware(Connection(mapped));
        var third = Connection(mapped);
        await middleware(third).WaitAsync(Wait.DefaultTimeout); // refused: returns at once
        Assert.Equal(2, served);
        Assert.Equal(1, limiter.Rejected);
        await Wait.UntilAsync(() => third.ConnectionClosed.IsCancellationRequested, "the connection over the cap to be aborted", Wait.DefaultTimeout);
        // Another address is counted on its own.
        var other = middleware(Connection(IPAddress.Parse("127.0.0.3")));
        Assert.Equal(3, served);

        release.SetResult();
        await Task.WhenAll(first, second, other).WaitAsync(Wait.DefaultTimeout);
        var again = middleware(Connection(v4));
        await again.WaitAsync(Wait.DefaultTimeout);
        Assert.Equal(4, served); // the slots were given back
    }

    [Fact]
    public async Task Each_address_and_each_ipv6_64_is_capped()
    {
        var limiter = new PerIpConnectionLimiter(maxPerIp: 2, subnetFactor: 2);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var served = 0;
        var middleware = limiter.Middleware(async _ =>
        {
            Interlocked.Increment(ref served);
            await release.Task;
        });

        var held = new[] { Addresses.A1, Addresses.A1, Addresses.A2, Addresses.A2 }.Select(a => middleware(Connection(a))).ToList();
        Assert.Equal(4, served); // two addresses, two each: the /64 holds its 2 × 2
        foreach (var refused in new[] { Addresses.A1, Addresses.A3 })
        {
            // A1 is at its own cap; A3 is new, but its /64 is full.
            var connection = Connection(refused);
            await middleware(connection).WaitAsync(Wait.DefaultTimeout);
            await Wait.UntilAsync(() => connection.ConnectionClosed.IsCancellationRequested, $"the connection from {refused} to be aborted", Wait.DefaultTimeout);
        }
        Assert.Equal(4, served);
        Assert.Equal(2, limiter.Rejected);
        held.Add(middleware(Connection(Addresses.OtherSubnet)));
        held.Add(middleware(Connection(IPAddress.Parse("192.0.2.1"))));
        Assert.Equal(6, served);

        release.SetResult();
        await Task.WhenAll(held).WaitAsync(Wait.DefaultTimeout);
        await middleware(Connection(Addresses.A3)).WaitAsync(Wait.DefaultTimeout);
        Assert.Equal(7, served); // every place given back
    }

    private static DefaultConnectionContext Connection(IPAddress address) => Addresses.Connection(address);
}
