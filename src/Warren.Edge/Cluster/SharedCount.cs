using StackExchange.Redis;

namespace Warren.Edge.Cluster;

/// <summary>
/// One count shared by the cluster's edges (docs/cluster.md, "Shared counts"): a Redis hash in which each edge writes
/// its own field, holding its own count as an absolute number, and from which it reads the other edges' fields.
/// Absolute per-edge fields, not INCRBY of deltas, so that a write is idempotent: a write that timed out but landed,
/// or one repeated after Redis restarted empty, never counts twice, and the counts an edge made while Redis was away
/// reach the others with its next write. <see cref="ClusterCounters"/> writes and reads every live count once per
/// <c>cluster.sync_interval</c>; the subclass applies what the other edges added since.
/// <para>Only the sync loop calls <see cref="Synced"/>, so what it remembers of the other fields needs no lock.</para>
/// </summary>
internal abstract class SharedCount(string key, string field, TimeSpan lifetime, bool slidingLifetime, bool countExisting)
{
    private Dictionary<string, long>? _seen;

    /// <summary>The hash's name under the cluster's prefix.</summary>
    public string Key { get; } = key;

    /// <summary>This edge's field in the hash.</summary>
    public string Field { get; } = field;

    /// <summary>How long the hash lives in Redis: from its first write, or (sliding) from each write.</summary>
    public TimeSpan Lifetime { get; } = lifetime;

    public bool SlidingLifetime { get; } = slidingLifetime;

    /// <summary>This edge's count now, as written to its field (0: nothing written, only read).</summary>
    public abstract long Local { get; }

    /// <summary>
    /// False once the count has nothing more to tell or learn (idle, or its window ended): the loop writes it one last
    /// time and forgets it.
    /// </summary>
    public abstract bool IsLive { get; }

    /// <summary>The other edges' fields as last read: their sum.</summary>
    public long Others { get; private set; }

    /// <summary>Sync rounds that read this count back (tests wait on it).</summary>
    public int Reads { get; private set; }

    /// <summary>
    /// The hash as read after this edge's write: applies what each other field added since the last read. A field seen
    /// for the first time adds its whole value, except at this count's first read when <c>countExisting</c> is false
    /// (a token bucket starts full: what other edges let through before this edge saw the client is not taken from it).
    /// A field whose value went down was started again (an edge's count restarted): its new value is all new.
    /// </summary>
    public void Synced(HashEntry[] entries)
    {
        var first = _seen is null;
        var seen = _seen ??= new Dictionary<string, long>(StringComparer.Ordinal);
        long added = 0, others = 0;
        foreach (var entry in entries)
        {
            var field = (string?)entry.Name;
            if (field is null || field == Field || !entry.Value.TryParse(out long value))
            {
                continue;
            }
            others += value;
            if (seen.TryGetValue(field, out var before))
            {
                added += value >= before ? value - before : value;
            }
            else if (!first || countExisting)
            {
                added += value;
            }
            seen[field] = value;
        }
        Others = others;
        Reads++;
        if (added > 0 || first)
        {
            Apply(added, others);
        }
    }

    /// <summary>What the other edges added since the last read (<paramref name="added"/>), and their whole count now.</summary>
    protected abstract void Apply(long added, long others);
}
