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
internal abstract class SharedCount(string key, string field, TimeSpan lifetime)
{
    private Dictionary<string, long>? _seen;

    /// <summary>The hash's name under the cluster's prefix.</summary>
    public string Key { get; } = key;

    /// <summary>This edge's field in the hash.</summary>
    public string Field { get; } = field;

    /// <summary>How long the hash lives in Redis from its first write (each count is of a window, a day or a month).</summary>
    public TimeSpan Lifetime { get; } = lifetime;

    /// <summary>This edge's count now, as written to its field (0: nothing written, only read).</summary>
    public abstract long Local { get; }

    /// <summary>This edge's field as Redis last acknowledged it.</summary>
    public long Written { get; private set; }

    /// <summary>The other edges' fields as last read: their sum.</summary>
    public long Others { get; private set; }

    /// <summary>Sync rounds that read this count back (tests wait on it).</summary>
    public int Reads { get; private set; }

    /// <summary>
    /// The hash as read after this edge's write: applies what each other field added since the last read. A field seen
    /// for the first time adds its whole value (every count is of a window of time, so what is in it is recent). A
    /// field whose value went down was started again (an edge's count restarted): its new value is all new.
    /// </summary>
    /// <param name="entries">The hash's fields.</param>
    /// <param name="written">The value of <see cref="Local"/> this round wrote.</param>
    public void Synced(HashEntry[] entries, long written)
    {
        Written = written;
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
            else
            {
                added += value;
            }
            seen[field] = value;
        }
        var changed = others != Others;
        Others = others;
        Reads++;
        if (added > 0 || first || changed)
        {
            Apply(added, others); // changed without anything added: a field went away (its hash expired, Redis restarted)
        }
    }

    /// <summary>What the other edges added since the last read (<paramref name="added"/>), and their whole count now.</summary>
    protected abstract void Apply(long added, long others);
}
