namespace Warren.Edge.Accounting;

/// <summary>
/// One service's or token's requests and bytes (both ways) this UTC day (docs/console.md, "Traffic accounting"): this
/// edge's own, counted by the sampler and loaded from warren.db at start, and in a cluster the other edges' too, as
/// last exchanged through Redis (Cluster/ClusterTraffic.cs), so the day's totals are the cluster's.
/// </summary>
internal sealed class DayTraffic
{
    private readonly Lock _lock = new();
    private long _day = -1, _requests, _bytes;
    private long _othersDay = -1, _othersRequests, _othersBytes;

    /// <summary>Adds to <paramref name="day"/>'s own counts (a new day starts from zero).</summary>
    public void Add(long day, long requests, long bytes)
    {
        lock (_lock)
        {
            if (day != _day)
            {
                (_day, _requests, _bytes) = (day, 0, 0);
            }
            _requests += requests;
            _bytes += bytes;
        }
    }

    /// <summary>This edge's own counts and the day they are of.</summary>
    public (long Day, long Requests, long Bytes) Own
    {
        get
        {
            lock (_lock)
            {
                return (_day, _requests, _bytes);
            }
        }
    }

    /// <summary>Every edge's counts of the current day: this edge's plus the others' as last read.</summary>
    public (long Requests, long Bytes) Total
    {
        get
        {
            lock (_lock)
            {
                return _othersDay == _day ? (_requests + _othersRequests, _bytes + _othersBytes) : (_requests, _bytes);
            }
        }
    }

    /// <summary>The other edges' requests (or bytes, with <paramref name="bytes"/>) of <paramref name="day"/>.</summary>
    public void SetOthers(long day, bool bytes, long value)
    {
        lock (_lock)
        {
            if (day != _othersDay)
            {
                (_othersDay, _othersRequests, _othersBytes) = (day, 0, 0);
            }
            if (bytes)
            {
                _othersBytes = value;
            }
            else
            {
                _othersRequests = value;
            }
        }
    }
}
