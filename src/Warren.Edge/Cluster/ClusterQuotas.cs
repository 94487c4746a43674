using System.Globalization;
using Warren.Edge.Accounting;

namespace Warren.Edge.Cluster;

/// <summary>
/// Token quotas held by the whole cluster (docs/cluster.md, "Shared counts"): each edge writes its own use of a token
/// today and this month (<see cref="TokenAccount.Own"/>: what it counted itself, kept across its restarts in warren.db)
/// into <c>quota:TOKEN:day:D</c> and <c>quota:TOKEN:month:M</c>, and judges the quota with the other edges' fields
/// added (<see cref="TokenAccount.SetOthers"/>). So a token that used 60 % of its quota through one edge and 50 %
/// through another is refused by a third. The request path still reads only <see cref="TokenAccount.Exceeded"/>.
/// </summary>
internal sealed class ClusterQuotas
{
    private readonly ClusterCounters _counters;
    private readonly TrafficAccounting _accounting;
    // Only the loop touches these.
    private readonly Dictionary<string, (UseCount Day, UseCount Month)> _counts = new(StringComparer.Ordinal);

    public ClusterQuotas(ClusterCounters counters, TrafficAccounting accounting)
    {
        (_counters, _accounting) = (counters, accounting);
        counters.Add(Live);
    }

    /// <summary>The loop's source: the day's and the month's count of every token with a quota or with use here.</summary>
    private IEnumerable<SharedCount> Live()
    {
        foreach (var account in _accounting.Accounts)
        {
            var own = account.Own;
            if (account.Quota is null && own.UsedDay == 0 && own.UsedMonth == 0)
            {
                continue;
            }
            if (!_counts.TryGetValue(account.Name, out var counts) || counts.Day.Period != own.Day || counts.Month.Period != own.Month)
            {
                counts = (new UseCount(this, account, own.Day, isMonth: false), new UseCount(this, account, own.Month, isMonth: true));
                _counts[account.Name] = counts;
            }
            yield return counts.Day;
            yield return counts.Month;
        }
    }

    /// <summary>One token's use of one day or month: this edge's field is its own use.</summary>
    private sealed class UseCount(ClusterQuotas owner, TokenAccount account, long period, bool isMonth)
        : SharedCount(owner._counters.Key(string.Create(CultureInfo.InvariantCulture, $"quota:{account.Name}:{(isMonth ? "month" : "day")}:{period}")),
            owner._counters.EdgeName, isMonth ? TimeSpan.FromDays(63) : TimeSpan.FromDays(2))
    {
        public long Period { get; } = period;

        public override long Local
        {
            get
            {
                var own = account.Own;
                return isMonth ? (own.Month == Period ? own.UsedMonth : 0) : (own.Day == Period ? own.UsedDay : 0);
            }
        }

        protected override void Apply(long added, long others) =>
            owner._accounting.ApplyOthers(account, Period, isMonth, others, owner._counters.Now);
    }
}
