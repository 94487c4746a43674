using System.Net;
using System.Threading.RateLimiting;
using Warren.Edge.Cluster;
using Warren.Net.RateLimiting;

namespace Warren.Edge.Policy;

/// <summary>
/// Every policy rate limit of the edge in one partitioned limiter (System.Threading.RateLimiting): a bucket per
/// (rule, service, client address), replenished by the limiter's single timer, dropped once idle. A rule that is
/// replaced (a new registration) leaves its buckets to idle out, so nothing is disposed under a request in flight.
/// In a cluster each bucket is a <see cref="SharedTokenBucket"/> (Cluster/ClusterRateLimits.cs): still decided here,
/// with the other edges' use of the same key taken from it in the background (docs/cluster.md, "Shared counts").
/// </summary>
internal sealed class PolicyRateLimiter : IDisposable
{
    // Made once: the partition's factory is not a new closure per request.
    private static readonly Func<Key, RateLimiter> Local = static key => new TokenBucketRateLimiter(key.Rule.Options);

    private readonly PartitionedRateLimiter<Key> _limiter;

    /// <param name="cluster">The cluster's shared buckets; null for one edge alone.</param>
    public PolicyRateLimiter(ClusterRateLimits? cluster = null)
    {
        var create = cluster is null ? Local : cluster.Create;
        _limiter = new PartitionedLimiter<Key, Key>(key => RateLimitPartition.Get(key, create));
    }

    internal readonly record struct Key(RateRule Rule, int Service, IPAddress? Client);

    /// <summary>True when a request may go; else false with how long until it would.</summary>
    public bool TryAcquire(RateRule rule, int service, IPAddress? client, out TimeSpan retryAfter)
    {
        using var lease = _limiter.AttemptAcquire(new Key(rule, service, client));
        if (lease.IsAcquired)
        {
            retryAfter = default;
            return true;
        }
        retryAfter = lease.TryGetMetadata(MetadataName.RetryAfter, out var after) ? after : rule.Options.ReplenishmentPeriod;
        return false;
    }

    public void Dispose() => _limiter.Dispose();
}
