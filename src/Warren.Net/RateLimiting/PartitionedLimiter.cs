using System.Collections.Concurrent;
using System.Threading.RateLimiting;

namespace Warren.Net.RateLimiting;

/// <summary>
/// A <see cref="PartitionedRateLimiter{TResource}"/> like the one <c>PartitionedRateLimiter.Create</c> builds (a
/// limiter per partition key, replenished every 100 ms, dropped after 10 s idle), with two differences that matter to a
/// process that is idle most of its life and busy on a few cores the rest:
/// <list type="bullet">
/// <item>Its timer runs only while partitions exist. The library's runs every 100 ms for the limiter's whole life, so an
/// edge with five of them woke a thread-pool thread 50 times a second doing nothing (docs/performance.md, "Idle").</item>
/// <item>Finding a partition is a lock-free dictionary read; the library takes a lock on every acquire, which every
/// request of the edge crosses.</item>
/// </list>
/// A partition that idles out is removed but not disposed (its limiters own no timer: the partitions' replenishment is
/// driven from here). A caller that found it just before it went still takes and returns its lease on it; the next
/// caller gets a fresh one. So at the 10 s idle boundary one caller may count against a limiter nobody else sees: at
/// most one extra permit, once, for a key that was idle for 10 s.
/// </summary>
internal sealed class PartitionedLimiter<TResource, TKey> : PartitionedRateLimiter<TResource> where TKey : notnull
{
    private static readonly TimeSpan TickInterval = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan DefaultIdleLimit = TimeSpan.FromSeconds(10);

    private readonly Func<TResource, RateLimitPartition<TKey>> _partitioner;
    // The limiters measure idleness with the Stopwatch, so the timer runs on real time too.
    private readonly ConcurrentDictionary<TKey, RateLimiter> _partitions;
    private readonly ITimer _timer;
    private readonly TimeSpan _idleLimit;
    private readonly Lock _tickLock = new();
    private int _armed;
    private bool _disposed;

    /// <param name="partitioner">The partition of a resource, as for <c>PartitionedRateLimiter.Create</c>.</param>
    /// <param name="idleLimit">How long a partition may sit idle before it goes (10 s, the library's figure).</param>
    public PartitionedLimiter(Func<TResource, RateLimitPartition<TKey>> partitioner, TimeSpan? idleLimit = null)
    {
        _partitioner = partitioner;
        _idleLimit = idleLimit ?? DefaultIdleLimit;
        _partitions = new ConcurrentDictionary<TKey, RateLimiter>();
        _timer = TimeProvider.System.CreateTimer(static s => ((PartitionedLimiter<TResource, TKey>)s!).Tick(), this,
            Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
    }

    /// <summary>Partitions alive now (tests: they go once idle, and the timer with them).</summary>
    public int PartitionCount => _partitions.Count;

    /// <summary>Whether the maintenance timer is running.</summary>
    public bool IsTicking => Volatile.Read(ref _armed) == 1;

    public override RateLimiterStatistics? GetStatistics(TResource resource) => Partition(resource).GetStatistics();

    protected override RateLimitLease AttemptAcquireCore(TResource resource, int permitCount) => Partition(resource).AttemptAcquire(permitCount);

    protected override ValueTask<RateLimitLease> AcquireAsyncCore(TResource resource, int permitCount, CancellationToken cancellationToken) =>
        Partition(resource).AcquireAsync(permitCount, cancellationToken);

    private RateLimiter Partition(TResource resource)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var partition = _partitioner(resource);
        if (_partitions.TryGetValue(partition.PartitionKey, out var limiter))
        {
            return limiter;
        }
        var created = partition.Factory(partition.PartitionKey);
        limiter = _partitions.GetOrAdd(partition.PartitionKey, created);
        if (!ReferenceEquals(limiter, created))
        {
            created.Dispose(); // lost the race to another caller
        }
        Arm();
        return limiter;
    }

    private void Arm()
    {
        if (Interlocked.Exchange(ref _armed, 1) == 0)
        {
            _timer.Change(TickInterval, TickInterval);
        }
    }

    private void Tick()
    {
        // Timer callbacks may overlap when one runs long; one sweep at a time is enough.
        if (!_tickLock.TryEnter())
        {
            return;
        }
        try
        {
            foreach (var (key, limiter) in _partitions)
            {
                if (limiter is ReplenishingRateLimiter { IsAutoReplenishing: false } replenishing)
                {
                    replenishing.TryReplenish();
                }
                if (limiter.IdleDuration is { } idle && idle > _idleLimit)
                {
                    _partitions.TryRemove(KeyValuePair.Create(key, limiter));
                }
            }
            if (_partitions.IsEmpty && !_disposed)
            {
                // Disarm, then look again: a partition added between the check and the disarm saw the timer armed and
                // did not arm it, so it is re-armed here.
                _timer.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
                Volatile.Write(ref _armed, 0);
                if (!_partitions.IsEmpty)
                {
                    Arm();
                }
            }
        }
        finally
        {
            _tickLock.Exit();
        }
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing && !_disposed)
        {
            _disposed = true;
            _timer.Dispose();
            foreach (var limiter in _partitions.Values)
            {
                limiter.Dispose();
            }
            _partitions.Clear();
        }
        base.Dispose(disposing);
    }

    protected override async ValueTask DisposeAsyncCore()
    {
        Dispose(true);
        await base.DisposeAsyncCore().ConfigureAwait(false);
    }
}
