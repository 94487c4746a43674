using System.Threading.RateLimiting;

namespace Warren.Edge.Cluster;

/// <summary>
/// A policy rate limit's token bucket on an edge of a cluster (docs/cluster.md, "Shared counts"): the local
/// <see cref="TokenBucketRateLimiter"/> decides every request, as on one edge alone, and counts what it lets through;
/// <see cref="ClusterCounters"/> writes that count to Redis and hands back what the other edges let through for the
/// same key, which this bucket then owes: the debt is taken from its tokens right after each replenishment (the
/// partitioned limiter's tick, off the request path), before requests can take them. So the edges together let
/// through about one bucket's rate, not one each.
/// <para>
/// The request path pays one interlocked add per permit granted. The debt is capped at one bucket (<c>burst</c>), so a
/// burst the other edges let through before they knew cannot lock a client out for longer than an empty bucket does.
/// </para>
/// </summary>
internal sealed class SharedTokenBucket : ReplenishingRateLimiter
{
    private readonly TokenBucketRateLimiter _bucket;
    private readonly int _limit;
    private readonly Action<SharedTokenBucket> _firstGrant;
    private long _granted, _debt;
    private volatile bool _disposed;

    /// <param name="firstGrant">
    /// Called once, at the first permit granted: the bucket is shared from then on. Not at construction, because the
    /// partitioned limiter may make two buckets for one key at once and keep only one of them.
    /// </param>
    public SharedTokenBucket(TokenBucketRateLimiterOptions options, string key, string field, TimeSpan lifetime, Action<SharedTokenBucket> firstGrant)
    {
        _bucket = new TokenBucketRateLimiter(options);
        _limit = options.TokenLimit;
        _firstGrant = firstGrant;
        Count = new BucketCount(this, key, field, lifetime);
    }

    /// <summary>This bucket's count in the cluster's hash.</summary>
    public SharedCount Count { get; }

    /// <summary>Permits this bucket granted since it was made (this edge's field).</summary>
    public long Granted => Interlocked.Read(ref _granted);

    /// <summary>What the other edges let through that this bucket has not taken from its tokens yet.</summary>
    public long Debt => Interlocked.Read(ref _debt);

    public override bool IsAutoReplenishing => _bucket.IsAutoReplenishing;

    public override TimeSpan ReplenishmentPeriod => _bucket.ReplenishmentPeriod;

    public override TimeSpan? IdleDuration => _bucket.IdleDuration;

    public override RateLimiterStatistics? GetStatistics() => _bucket.GetStatistics();

    public override bool TryReplenish()
    {
        var replenished = _bucket.TryReplenish();
        PayDebt();
        return replenished;
    }

    protected override RateLimitLease AttemptAcquireCore(int permitCount)
    {
        var lease = _bucket.AttemptAcquire(permitCount);
        if (lease.IsAcquired && permitCount > 0)
        {
            OnGranted(permitCount);
        }
        return lease;
    }

    protected override async ValueTask<RateLimitLease> AcquireAsyncCore(int permitCount, CancellationToken cancellationToken)
    {
        var lease = await _bucket.AcquireAsync(permitCount, cancellationToken).ConfigureAwait(false);
        if (lease.IsAcquired && permitCount > 0)
        {
            OnGranted(permitCount);
        }
        return lease;
    }

    private void OnGranted(int permits)
    {
        if (Interlocked.Add(ref _granted, permits) == permits)
        {
            _firstGrant(this);
        }
    }

    /// <summary>Adds what the other edges let through (capped at one bucket) and takes what the bucket holds of it now.</summary>
    private void Owe(long added)
    {
        long current, next;
        do
        {
            current = Interlocked.Read(ref _debt);
            next = Math.Min(_limit, current + added);
        }
        while (Interlocked.CompareExchange(ref _debt, next, current) != current);
        PayDebt();
    }

    private void PayDebt()
    {
        if (_disposed)
        {
            return; // the edge stopped: its limiter went before the sync loop's last round
        }
        var debt = Interlocked.Exchange(ref _debt, 0);
        if (debt <= 0)
        {
            return;
        }
        var take = 0;
        try
        {
            take = (int)Math.Min(debt, _bucket.GetStatistics()?.CurrentAvailablePermits ?? 0);
            if (take > 0)
            {
                using var lease = _bucket.AttemptAcquire(take);
                if (!lease.IsAcquired)
                {
                    take = 0; // a request took the tokens meanwhile: owed still
                }
            }
        }
        catch (ObjectDisposedException)
        {
            return; // disposed between the check above and here: the edge is stopping
        }
        if (debt - take > 0)
        {
            Interlocked.Add(ref _debt, debt - take);
        }
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _disposed = true;
            _bucket.Dispose();
        }
        base.Dispose(disposing);
    }

    protected override async ValueTask DisposeAsyncCore()
    {
        _disposed = true;
        await _bucket.DisposeAsync().ConfigureAwait(false);
        await base.DisposeAsyncCore().ConfigureAwait(false);
    }

    /// <summary>
    /// The bucket's field: what it granted. A new bucket (the first request after 10 s idle, a new registration) is a
    /// new field (<c>edge:incarnation</c>), and it starts full: the other edges' earlier counts are not owed.
    /// </summary>
    private sealed class BucketCount(SharedTokenBucket bucket, string key, string field, TimeSpan lifetime)
        : SharedCount(key, field, lifetime, slidingLifetime: true, countExisting: false)
    {
        public override long Local => bucket.Granted;

        // The partitioned limiter drops a bucket after 10 s idle (a request then makes a new one); the loop keeps it
        // longer, so a bucket still in the limiter is never one whose count is no longer shared.
        public override bool IsLive => bucket.IdleDuration is not { } idle || idle < TimeSpan.FromSeconds(30);

        protected override void Apply(long added, long others)
        {
            if (added > 0)
            {
                bucket.Owe(added);
            }
        }
    }
}
