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

    /// <param name="key">The hash's name without its window (<c>rate:OWNER/SERVICE:RULE:CLIENT</c>).</param>
    /// <param name="field">This bucket's field: <c>EDGE:ID</c>, new for every bucket made.</param>
    /// <param name="window">The length of one count's window, aligned to the clock: the same on every edge.</param>
    /// <param name="firstGrant">
    /// Called once, at the first permit granted: the bucket is shared from then on. Not at construction, because the
    /// partitioned limiter may make two buckets for one key at once and keep only one of them.
    /// </param>
    public SharedTokenBucket(TokenBucketRateLimiterOptions options, string key, string field, TimeSpan window, Action<SharedTokenBucket> firstGrant)
    {
        _bucket = new TokenBucketRateLimiter(options);
        _limit = options.TokenLimit;
        _firstGrant = firstGrant;
        (Key, _field, _window) = (key, field, window);
    }

    private readonly string _field;
    private readonly TimeSpan _window;
    private WindowCount? _current;

    /// <summary>The hash's name without its window.</summary>
    public string Key { get; }

    /// <summary>
    /// The loop's view of this bucket at <paramref name="now"/>: the count of the current window, and when a window just
    /// ended, that one's last count first. A window's count starts where the last one written ended, so what this
    /// bucket granted while Redis was away lands in the first window written after it returns. Only the loop calls it.
    /// </summary>
    public IEnumerable<SharedCount> Counts(DateTimeOffset now)
    {
        var window = now.ToUnixTimeMilliseconds() / (long)_window.TotalMilliseconds;
        if (_current is { } current && current.Window == window)
        {
            return [current];
        }
        if (_current is { } ended)
        {
            // The window that ended keeps what Redis last took of it; the rest (the last moments, or everything granted
            // while Redis was away) goes into the new window, which the other edges read now.
            ended.End = ended.Start + ended.Written;
            _current = new WindowCount(this, window, start: ended.End.Value);
            return [ended, _current];
        }
        _current = new WindowCount(this, window, start: 0);
        return [_current];
    }

    /// <summary>Whether the loop still exchanges this bucket: in use, or idle for less than 30 s.</summary>
    public bool IsLive => IdleDuration is not { } idle || idle < TimeSpan.FromSeconds(30);

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
    /// What the bucket granted in one window of the clock: the hash <c>KEY:WINDOW</c>, field <c>EDGE:ID</c>. Everything
    /// in the window's hash at the bucket's first read counts (what the other edges let through in this window is owed,
    /// up to one bucket); the hash lives two windows and a minute from its first write.
    /// </summary>
    private sealed class WindowCount(SharedTokenBucket bucket, long window, long start)
        : SharedCount(bucket.Key + ":" + window.ToString(System.Globalization.CultureInfo.InvariantCulture), bucket._field, bucket._window * 2 + TimeSpan.FromMinutes(1))
    {
        public long Window { get; } = window;

        /// <summary>The bucket's grant count when the window started.</summary>
        public long Start { get; } = start;

        /// <summary>The bucket's grant count when the window ended (its last write), or null while it is current.</summary>
        public long? End { get; set; }

        public override long Local => (End ?? bucket.Granted) - Start;

        protected override void Apply(long added, long others)
        {
            if (added > 0)
            {
                bucket.Owe(added);
            }
        }
    }
}
