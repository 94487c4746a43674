using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using Warren.Edge.Shield;

namespace Warren.Edge.Cluster;

/// <summary>
/// The abuse shield's strikes counted by the whole cluster (docs/cluster.md, "Shared counts"): a network's refusals
/// on one edge and on another add up to the threshold, so a client cannot stay under it by spreading its failures over
/// the edges. Each strike counted here (<see cref="AbuseShield.Struck"/>, a refusal on the request path: one dictionary
/// lookup and an interlocked add) goes into the hash <c>strikes:KIND:NETWORK:WINDOW</c>; the strikes the other edges
/// counted in it are added to this edge's shield (<see cref="AbuseShield.AddStrikes"/>), which bans when its sum
/// reaches the threshold; the ban then reaches every edge (Cluster/ClusterBans.cs). WINDOW is the Unix time divided
/// by <c>shield.window</c>, the same on every edge, so the edges count the same windows.
/// </summary>
internal sealed class ClusterStrikes : IDisposable
{
    private readonly ClusterCounters _counters;
    private readonly AbuseShield _shield;
    private readonly TimeProvider _time;
    private readonly ConcurrentDictionary<(IPNetwork Network, StrikeKind Kind, long Window), StrikeCount> _counts = new();
    private int _tracked;

    public ClusterStrikes(ClusterCounters counters, AbuseShield shield, TimeProvider time)
    {
        (_counters, _shield, _time) = (counters, shield, time);
        shield.Struck += OnStruck;
        counters.Add(Live);
    }

    private long WindowOf(TimeSpan window) => _time.GetUtcNow().ToUnixTimeSeconds() / Math.Max(1, (long)window.TotalSeconds);

    private void OnStruck(IPNetwork network, StrikeKind kind)
    {
        var window = _shield.Window;
        var key = (Network: network, Kind: kind, Window: WindowOf(window));
        if (!_counts.TryGetValue(key, out var count))
        {
            if (Volatile.Read(ref _tracked) >= AbuseShield.MaxTracked)
            {
                return; // as many as the shield itself tracks: the rest are counted on this edge only
            }
            var made = new StrikeCount(this, network, kind, key.Window, window);
            count = _counts.GetOrAdd(key, made);
            if (ReferenceEquals(count, made))
            {
                Interlocked.Increment(ref _tracked);
            }
        }
        count.Increment();
    }

    /// <summary>The loop's source: each count of the current window; one of an ended window once more, then forgotten.</summary>
    private IEnumerable<SharedCount> Live()
    {
        var window = _shield.Window;
        var now = WindowOf(window);
        foreach (var (key, count) in _counts)
        {
            if (key.Window != now && _counts.TryRemove(KeyValuePair.Create(key, count)))
            {
                Interlocked.Decrement(ref _tracked);
            }
            yield return count;
        }
    }

    public void Dispose() => _shield.Struck -= OnStruck;

    /// <summary>One network's strikes of one kind in one window: this edge's field is what it counted itself.</summary>
    private sealed class StrikeCount(ClusterStrikes owner, IPNetwork network, StrikeKind kind, long window, TimeSpan length)
        : SharedCount(owner._counters.Key(string.Create(CultureInfo.InvariantCulture, $"strikes:{(kind == StrikeKind.AuthFailure ? "auth" : "limit")}:{network}:{window}")),
            owner._counters.EdgeName, length * 2)
    {
        private long _count;

        public override long Local => Interlocked.Read(ref _count);

        public void Increment() => Interlocked.Increment(ref _count);

        protected override void Apply(long added, long others)
        {
            if (added > 0)
            {
                owner._shield.AddStrikes(network, kind, (int)Math.Min(added, int.MaxValue));
            }
        }
    }
}
