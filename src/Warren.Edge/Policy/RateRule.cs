using System.Threading.RateLimiting;
using Warren.Configuration;

namespace Warren.Edge.Policy;

/// <summary>One compiled rate (a policy's per_ip, per_service or connection_rate): the token bucket every key of it gets.</summary>
internal sealed class RateRule
{
    private RateRule(TokenBucketRateLimiterOptions options, string layer, string kind)
    {
        Options = options;
        Id = Cluster.ClusterRateLimits.RuleId(layer, kind, options);
    }

    public TokenBucketRateLimiterOptions Options { get; }

    /// <summary>
    /// What every edge of a cluster calls this rule (docs/cluster.md, "Shared counts"): the layer (<c>edge.NAME</c> or
    /// <c>service</c>), the kind (per_ip, per_service, connection_rate) and the rate.
    /// </summary>
    public string Id { get; }

    /// <param name="layer">The layer's stable name: <c>edge.NAME</c> for an edge.yaml policy, <c>service</c> for the agent's own.</param>
    /// <param name="kind">per_ip, per_service or connection_rate.</param>
    public static RateRule? Compile(RateConfig? config, string layer, string kind) => config is null ? null : new(new TokenBucketRateLimiterOptions
    {
        TokenLimit = config.Burst ?? config.Requests,
        TokensPerPeriod = config.Requests,
        ReplenishmentPeriod = config.Per,
        QueueLimit = 0,
        // The partitioned limiter replenishes all buckets from one timer; one timer per client address would not scale.
        AutoReplenishment = false,
    }, layer, kind);
}
