using System.Net;
using Microsoft.AspNetCore.Http;
using Warren.Edge.Forwarding;
using Warren.Edge.Limits;
using Warren.Edge.Routing;
using Warren.Protocol.Tunnel;

namespace Warren.Edge.Tests.Forwarding;

/// <summary>The per-client share of a service on the request path: 429 with a clear body, and the real client behind a trusted proxy.</summary>
public sealed class ClientShareTests
{
    private static readonly ServiceEntry Web = new(1, "owner", new ServiceRegistration { Name = "web", Hostnames = ["web.test"] });

    [Fact]
    public async Task Over_its_share_a_client_gets_429_with_a_reason()
    {
        using var limiter = new ClientRequestLimiter(perAddress: 1, subnetFactor: 4, queueLimit: 0, TimeSpan.FromSeconds(1));
        var share = new ClientShare(limiter, TrustedProxies.None);

        using var first = await share.AcquireAsync(Request(IPAddress.Parse("192.0.2.1")), Web);
        Assert.NotNull(first);
        var second = Request(IPAddress.Parse("192.0.2.1"));
        Assert.Null(await share.AcquireAsync(second, Web));
        Assert.Equal(StatusCodes.Status429TooManyRequests, second.Response.StatusCode);
        Assert.Equal("1", second.Response.Headers.RetryAfter);
        second.Response.Body.Position = 0;
        Assert.Contains("too many requests in progress to this service", await new StreamReader(second.Response.Body).ReadToEndAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Behind_a_trusted_proxy_the_share_is_the_named_clients()
    {
        using var limiter = new ClientRequestLimiter(perAddress: 1, subnetFactor: 4, queueLimit: 0, TimeSpan.FromSeconds(1));
        var share = new ClientShare(limiter, TrustedProxies.Parse(["10.0.0.5"]));
        var proxy = IPAddress.Parse("10.0.0.5");

        using var alice = await share.AcquireAsync(Request(proxy, forwardedFor: "203.0.113.7"), Web);
        using var bob = await share.AcquireAsync(Request(proxy, forwardedFor: "203.0.113.8"), Web);
        Assert.NotNull(alice);
        Assert.NotNull(bob); // two clients through one proxy: two shares
        Assert.Null(await share.AcquireAsync(Request(proxy, forwardedFor: "203.0.113.7"), Web));
    }

    private static DefaultHttpContext Request(IPAddress address, string? forwardedFor = null)
    {
        var context = new DefaultHttpContext();
        context.Connection.RemoteIpAddress = address;
        context.Response.Body = new MemoryStream();
        if (forwardedFor is not null)
        {
            context.Request.Headers["X-Forwarded-For"] = forwardedFor;
        }
        return context;
    }
}
