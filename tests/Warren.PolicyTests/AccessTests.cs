using System.Net;
using Warren.Configuration;
using Xunit.Abstractions;

namespace Warren.PolicyTests;

/// <summary>ip allow/deny lists and rate limits, judged on the real client address (trusted_proxies), docs/policy.md.</summary>
public sealed class AccessTests(ITestOutputHelper output) : PolicyTest(output)
{
    private static EdgeConfig TrustLoopback(EdgeConfig config) => config with { TrustedProxies = ["127.0.0.1"] };

    [Fact]
    public async Task Ip_deny_refuses_with_403_and_allow_lets_only_its_ranges_through()
    {
        var denied = await StartAsync(new PolicyConfig { Ip = new IpRulesConfig { Deny = ["127.0.0.0/8"] } });
        using var refused = await SendAsync(denied, "/echo");
        Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);

        var allowed = await StartAsync(new PolicyConfig { Ip = new IpRulesConfig { Allow = ["10.0.0.0/8", "127.0.0.1", "2001:db8::/32"] } });
        using var passed = await SendAsync(allowed, "/echo");
        Assert.Equal(HttpStatusCode.OK, passed.StatusCode);
    }

    [Fact]
    public async Task Behind_a_trusted_proxy_the_right_most_untrusted_forwarded_address_is_judged_and_a_forged_left_entry_is_not()
    {
        var harness = await StartAsync(new PolicyConfig { Ip = new IpRulesConfig { Allow = ["203.0.113.0/24"], Deny = ["203.0.113.66"] } }, TrustLoopback);

        async Task<HttpStatusCode> From(string? forwardedFor)
        {
            using var response = await SendAsync(harness, "/echo", r =>
            {
                if (forwardedFor is not null)
                {
                    r.Headers.Add("X-Forwarded-For", forwardedFor);
                }
            });
            return response.StatusCode;
        }

        Assert.Equal(HttpStatusCode.OK, await From("203.0.113.5"));
        Assert.Equal(HttpStatusCode.Forbidden, await From("198.51.100.1"));
        Assert.Equal(HttpStatusCode.Forbidden, await From("203.0.113.66"));
        // The client wrote the left entry; the proxy appended the address it saw. Only the latter counts.
        Assert.Equal(HttpStatusCode.Forbidden, await From("203.0.113.5, 198.51.100.1"));
        Assert.Equal(HttpStatusCode.OK, await From("198.51.100.1, 203.0.113.5"));
        // The trusted proxy itself, with no header: judged as 127.0.0.1, outside the allow list.
        Assert.Equal(HttpStatusCode.Forbidden, await From(null));
    }

    [Fact]
    public async Task Forwarded_for_from_an_untrusted_peer_is_ignored()
    {
        var harness = await StartAsync(new PolicyConfig { Ip = new IpRulesConfig { Allow = ["203.0.113.0/24"] } });
        using var forged = await SendAsync(harness, "/echo", r => r.Headers.Add("X-Forwarded-For", "203.0.113.5"));
        Assert.Equal(HttpStatusCode.Forbidden, forged.StatusCode);
    }

    [Fact]
    public async Task Rate_limit_per_ip_answers_429_with_retry_after_and_leaves_other_clients_untouched()
    {
        var harness = await StartAsync(new PolicyConfig
        {
            RateLimit = new RateLimitConfig { PerIp = new RateConfig { Requests = 3, Per = TimeSpan.FromHours(1) } },
        }, TrustLoopback);

        async Task<HttpResponseMessage> From(string client) => await SendAsync(harness, "/echo", r => r.Headers.Add("X-Forwarded-For", client));

        for (var i = 0; i < 3; i++)
        {
            using var ok = await From("198.51.100.7");
            Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        }
        using var limited = await From("198.51.100.7");
        Assert.Equal(HttpStatusCode.TooManyRequests, limited.StatusCode);
        var retryAfter = limited.Headers.RetryAfter?.Delta;
        Assert.NotNull(retryAfter);
        Assert.True(retryAfter > TimeSpan.Zero, $"Retry-After {retryAfter}");
        for (var i = 0; i < 3; i++)
        {
            using var other = await From("198.51.100.8");
            Assert.Equal(HttpStatusCode.OK, other.StatusCode);
        }
        using var stillLimited = await From("198.51.100.7");
        Assert.Equal(HttpStatusCode.TooManyRequests, stillLimited.StatusCode);

        var metrics = await harness.Client.GetStringAsync(new Uri($"http://127.0.0.1:{harness.Edge.AdminPort}/metrics"));
        Assert.Contains("warren_policy_denials_total{service=\"app\",owner=\"tests\",reason=\"rate_limited\"} 2", metrics, StringComparison.Ordinal);
        Assert.Contains("warren_service_errors_total{service=\"app\",owner=\"tests\",kind=\"policy_denied\"} 2", metrics, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Rate_limit_per_service_is_shared_by_every_client()
    {
        var harness = await StartAsync(new PolicyConfig
        {
            RateLimit = new RateLimitConfig { PerService = new RateConfig { Requests = 2, Per = TimeSpan.FromHours(1) } },
        }, TrustLoopback);

        using var a = await SendAsync(harness, "/echo", r => r.Headers.Add("X-Forwarded-For", "198.51.100.1"));
        using var b = await SendAsync(harness, "/echo", r => r.Headers.Add("X-Forwarded-For", "198.51.100.2"));
        using var c = await SendAsync(harness, "/echo", r => r.Headers.Add("X-Forwarded-For", "198.51.100.3"));
        Assert.Equal([HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.TooManyRequests], [a.StatusCode, b.StatusCode, c.StatusCode]);
    }
}
