using System.Threading.RateLimiting;
using Warren.Configuration;

namespace Warren.Edge.Policy;

/// <summary>One compiled rate (a policy's per_ip, per_service or connection_rate): the token bucket every key of it gets.</summary>
internal sealed class RateRule
{
    private RateRule(TokenBucketRateLimiterOptions options) => Options = options;

    public TokenBucketRateLimiterOptions Options { get; }

    public static RateRule? Compile(RateConfig? config) => config is null ? null : new(new TokenBucketRateLimiterOptions
    {
        TokenLimit = config.Burst ?? config.Requests,
        TokensPerPeriod = config.Requests,
        ReplenishmentPeriod = config.Per,
        QueueLimit = 0,
        // The partitioned limiter replenishes all buckets from one timer; one timer per client address would not scale.
        AutoReplenishment = false,
    });
}
