using System.Net;
using System.Threading.RateLimiting;
using Warren.Net.RateLimiting;

namespace Warren.Edge.Policy;

/// <summary>
/// Every policy rate limit of the edge in one partitioned limiter (System.Threading.RateLimiting): a bucket per
/// (rule, service, client address), replenished by the limiter's single timer, dropped once idle. A rule that is
/// replaced (a new registration) leaves its buckets to idle out, so nothing is disposed under a request in flight.
/// </summary>
internal sealed class PolicyRateLimiter : IDisposable
{
    private readonly PartitionedRateLimiter<Key> _limiter = new PartitionedLimiter<Key, Key>(
        static key => RateLimitPartition.GetTokenBucketLimiter(key, static k => k.Rule.Options));

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
