using System.Net;
using Warren.Edge.Limits;

namespace Warren.Edge.Tests.Limits;

/// <summary>limits.max_requests_per_ip_per_service: a share of each scope (service) per client address and per IPv6 /64.</summary>
public sealed class ClientRequestLimiterTests
{
    private const int Web = 1;
    private const int Api = 2;

    [Fact]
    public async Task Each_address_and_each_ipv6_64_has_its_share_of_each_service()
    {
        using var limiter = new ClientRequestLimiter(perAddress: 1, subnetFactor: 2, queueLimit: 0, TimeSpan.FromSeconds(1));

        var held1 = await limiter.AcquireAsync(Web, Addresses.A1, CancellationToken.None);
        Assert.NotNull(held1);
        Assert.Null(await limiter.AcquireAsync(Web, Addresses.A1, CancellationToken.None));
        using var held2 = await limiter.AcquireAsync(Web, Addresses.A2, CancellationToken.None);
        Assert.NotNull(held2);
        Assert.Null(await limiter.AcquireAsync(Web, Addresses.A3, CancellationToken.None)); // the /64 holds its 1 × 2
        using var elsewhere = await limiter.AcquireAsync(Web, Addresses.OtherSubnet, CancellationToken.None);
        Assert.NotNull(elsewhere);
        using var otherService = await limiter.AcquireAsync(Api, Addresses.A3, CancellationToken.None);
        Assert.NotNull(otherService); // shares are per service
        using var mapped = await limiter.AcquireAsync(Web, IPAddress.Parse("192.0.2.1"), CancellationToken.None);
        Assert.Null(await limiter.AcquireAsync(Web, IPAddress.Parse("::ffff:192.0.2.1"), CancellationToken.None)); // the same client

        held1!.Dispose();
        using var afterRelease = await limiter.AcquireAsync(Web, Addresses.A3, CancellationToken.None);
        Assert.NotNull(afterRelease);
    }

    [Fact]
    public async Task A_request_over_the_share_waits_its_turn()
    {
        using var limiter = new ClientRequestLimiter(perAddress: 1, subnetFactor: 4, queueLimit: 10, TimeSpan.FromSeconds(30));
        var client = IPAddress.Parse("192.0.2.1");
        var first = await limiter.AcquireAsync(Web, client, CancellationToken.None);
        Assert.NotNull(first);

        var waiting = limiter.AcquireAsync(Web, client, CancellationToken.None).AsTask();
        Assert.False(waiting.IsCompleted);
        first!.Dispose();
        using var second = await waiting.WaitAsync(Wait.DefaultTimeout);
        Assert.NotNull(second);
    }
}
