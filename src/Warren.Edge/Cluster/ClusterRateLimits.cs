using System.Collections.Concurrent;
using System.Globalization;
using System.Threading.RateLimiting;
using Warren.Edge.Policy;
using Warren.Edge.Routing;

namespace Warren.Edge.Cluster;

/// <summary>
/// Policy rate limits (per_ip, per_service, a TCP service's connection_rate) shared by the cluster's edges
/// (docs/cluster.md, "Shared counts"): <see cref="PolicyRateLimiter"/> makes its buckets here, each a
/// <see cref="SharedTokenBucket"/> whose count <see cref="ClusterCounters"/> exchanges with the other edges under
/// <c>rate:OWNER/SERVICE:RULE:CLIENT</c>. A bucket is made once per key (the first request, or the first after it
/// idled out), never per request.
/// </summary>
internal sealed class ClusterRateLimits
{
    private readonly ClusterCounters _counters;
    private readonly RouteTable _routes;
    private readonly ConcurrentDictionary<string, SharedTokenBucket> _live = new(StringComparer.Ordinal);

    public ClusterRateLimits(ClusterCounters counters, RouteTable routes)
    {
        (_counters, _routes) = (counters, routes);
        _register = bucket => _live[bucket.Key] = bucket; // replaces the key's bucket that idled out
        counters.Add(Live);
    }

    private readonly Action<SharedTokenBucket> _register;

    /// <summary>Buckets whose counts are exchanged now (tests).</summary>
    public IReadOnlyDictionary<string, SharedTokenBucket> Buckets => _live;

    /// <summary>
    /// The bucket of <paramref name="key"/>: shared when its service is routed here (its owner and name are what every
    /// edge calls it), else (a service gone meanwhile) a bucket of this edge alone.
    /// </summary>
    public RateLimiter Create(PolicyRateLimiter.Key key)
    {
        if (_routes.GetById(key.Service) is not { } service)
        {
            return new TokenBucketRateLimiter(key.Rule.Options);
        }
        var client = key.Client is null ? "*" : key.Client.ToString();
        var name = _counters.Key($"rate:{service.Owner}/{service.Name}:{key.Rule.Id}:{client}");
        // A field per bucket made: a bucket made again after idling counts from zero.
        var field = _counters.EdgeName + ":" + Convert.ToHexStringLower(BitConverter.GetBytes(Random.Shared.NextInt64()));
        // Windows of the rule's period, and at least ten rounds long, so each edge reads a window many times before it ends.
        var window = TimeSpan.FromTicks(Math.Max(key.Rule.Options.ReplenishmentPeriod.Ticks, _counters.Interval.Ticks * 10));
        return new SharedTokenBucket(key.Rule.Options, name, field, window, _register);
    }

    /// <summary>The loop's source: every bucket in use, and once more each that went idle (its last count), then forgotten.</summary>
    private IEnumerable<SharedCount> Live()
    {
        var now = _counters.Now;
        foreach (var (name, bucket) in _live)
        {
            if (!bucket.IsLive)
            {
                _live.TryRemove(KeyValuePair.Create(name, bucket));
            }
            foreach (var count in bucket.Counts(now))
            {
                yield return count;
            }
        }
    }

    /// <summary>A rule's part of a key: where it is written (edge policy or the service's) and its rate, so different rules never share a count.</summary>
    public static string RuleId(string layer, string kind, TokenBucketRateLimiterOptions options) =>
        string.Create(CultureInfo.InvariantCulture, $"{layer}.{kind}:{options.TokensPerPeriod}/{(long)options.ReplenishmentPeriod.TotalMilliseconds}ms/{options.TokenLimit}");
}
