using System.Globalization;
using Warren.Edge.Accounting;

namespace Warren.Edge.Cluster;

/// <summary>
/// Each service's and token's requests and bytes today summed over the cluster (docs/cluster.md, "Shared counts"): an
/// edge writes its own counts of the day (<see cref="DayTraffic.Own"/>) into <c>traffic:SCOPE:NAME:day:D:requests</c>
/// and <c>...:bytes</c> and reads the other edges' fields back (<see cref="DayTraffic.Total"/>), which the console's
/// Traffic page shows. The hourly rows in warren.db stay each edge's own.
/// </summary>
internal sealed class ClusterTraffic
{
    private readonly ClusterCounters _counters;
    // Only the loop touches it.
    private readonly Dictionary<(string Scope, string Name), (DayCount Requests, DayCount Bytes)> _counts = [];

    public ClusterTraffic(ClusterCounters counters, TrafficAccounting accounting)
    {
        _counters = counters;
        counters.Add(() => Live(accounting));
    }

    private IEnumerable<SharedCount> Live(TrafficAccounting accounting)
    {
        foreach (var (key, traffic) in accounting.Today)
        {
            var own = traffic.Own;
            if (own.Requests == 0 && own.Bytes == 0)
            {
                continue;
            }
            if (!_counts.TryGetValue(key, out var counts) || counts.Requests.Day != own.Day)
            {
                counts = (new DayCount(this, key, traffic, own.Day, bytes: false), new DayCount(this, key, traffic, own.Day, bytes: true));
                _counts[key] = counts;
            }
            yield return counts.Requests;
            yield return counts.Bytes;
        }
    }

    /// <summary>One day's requests or bytes of one service or token: this edge's field is its own count.</summary>
    private sealed class DayCount(ClusterTraffic owner, (string Scope, string Name) key, DayTraffic traffic, long day, bool bytes)
        : SharedCount(owner._counters.Key(string.Create(CultureInfo.InvariantCulture, $"traffic:{key.Scope}:{key.Name}:day:{day}:{(bytes ? "bytes" : "requests")}")),
            owner._counters.EdgeName, TimeSpan.FromDays(2))
    {
        public long Day { get; } = day;

        public override long Local
        {
            get
            {
                var own = traffic.Own;
                return own.Day != Day ? 0 : bytes ? own.Bytes : own.Requests;
            }
        }

        protected override void Apply(long added, long others) => traffic.SetOthers(Day, bytes, others);
    }
}
