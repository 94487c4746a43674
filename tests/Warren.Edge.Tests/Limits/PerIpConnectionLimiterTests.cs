using System.Net;
using Microsoft.AspNetCore.Connections;
using Warren.Edge.Limits;

namespace Warren.Edge.Tests.Limits;

/// <summary>
/// limits.max_connections_per_ip: connections past the cap from one address are closed before any byte is read
/// (moved here from the security suite, where it was the one test that needed no edge).
/// </summary>
public sealed class PerIpConnectionLimiterTests
{
    [Fact]
    public async Task Ipv4_mapped_ipv6_addresses_count_as_the_same_ip()
    {
        // Unit level: a dual-stack listener would show the same client as 127.0.0.2 on one socket and
        // ::ffff:127.0.0.2 on another; both must draw on one allowance (CVE-2026-2455 was such a bypass).
        var limiter = new PerIpConnectionLimiter(maxPerIp: 2);
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

    private static DefaultConnectionContext Connection(IPAddress address) =>
        new(Guid.NewGuid().ToString("n")) { RemoteEndPoint = new IPEndPoint(address, 40000) };
}
