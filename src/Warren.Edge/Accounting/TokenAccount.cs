using System.Globalization;
using Warren.Configuration;

namespace Warren.Edge.Accounting;

/// <summary>
/// One token's use this UTC day and month, in memory (docs/console.md, "Quotas"). The sampler adds each second's
/// bytes and re-judges the quota; the request path only reads <see cref="Exceeded"/> (one volatile read), never the
/// database. Counts come from the traffic table at start, so they survive a restart.
/// </summary>
internal sealed class TokenAccount(string name)
{
    private readonly Lock _lock = new();
    private long _day = -1, _month = -1;
    private long _usedDay, _usedMonth;
    // The other edges' use of the same day and month, in a cluster (Cluster/ClusterQuotas.cs): judged with this edge's own.
    private long _othersDayOf = -1, _othersMonthOf = -1, _othersDay, _othersMonth;
    private volatile string? _exceeded;
    private bool _warnedDay, _warnedMonth;

    public string Name { get; } = name;

    public QuotaConfig? Quota { get; set; }

    private long _totalBytes, _totalRequests;

    /// <summary>Bytes since this process started (the metric's counter).</summary>
    public long TotalBytes => Interlocked.Read(ref _totalBytes);

    public long TotalRequests => Interlocked.Read(ref _totalRequests);

    public void CountTotals(long requests, long bytes)
    {
        Interlocked.Add(ref _totalRequests, requests);
        Interlocked.Add(ref _totalBytes, bytes);
    }

    /// <summary>Why the token is over its quota (the 429 body), or null while it is not.</summary>
    public string? Exceeded => _exceeded;

    /// <summary>Today's use: this edge's, and in a cluster every edge's as last exchanged.</summary>
    public long UsedToday
    {
        get
        {
            lock (_lock)
            {
                return _usedDay + OthersDay;
            }
        }
    }

    /// <summary>This month's use: this edge's, and in a cluster every edge's as last exchanged.</summary>
    public long UsedThisMonth
    {
        get
        {
            lock (_lock)
            {
                return _usedMonth + OthersMonth;
            }
        }
    }

    /// <summary>This edge's own use of <paramref name="day"/> and <paramref name="month"/> as of its last count (what it writes to the cluster).</summary>
    public (long Day, long UsedDay, long Month, long UsedMonth) Own
    {
        get
        {
            lock (_lock)
            {
                return (_day, _usedDay, _month, _usedMonth);
            }
        }
    }

    private long OthersDay => _othersDayOf == _day ? _othersDay : 0;

    private long OthersMonth => _othersMonthOf == _month ? _othersMonth : 0;

    /// <summary>
    /// The other edges' use of <paramref name="day"/> (or <paramref name="month"/>, with <paramref name="isMonth"/>), read
    /// from the cluster; the quota is judged again at once with it.
    /// </summary>
    public IReadOnlyList<string> SetOthers(DateTimeOffset now, long period, bool isMonth, long used)
    {
        lock (_lock)
        {
            if (isMonth)
            {
                (_othersMonthOf, _othersMonth) = (period, used);
            }
            else
            {
                (_othersDayOf, _othersDay) = (period, used);
            }
        }
        return Add(now, 0);
    }

    public static long DayOf(DateTimeOffset time) => time.ToUnixTimeSeconds() / 86_400;

    public static long MonthOf(DateTimeOffset time) => time.Year * 12L + time.Month - 1;

    /// <summary>Sets what was used before this process started (from the traffic table).</summary>
    public void Load(DateTimeOffset now, long usedToday, long usedThisMonth)
    {
        lock (_lock)
        {
            (_day, _month, _usedDay, _usedMonth) = (DayOf(now), MonthOf(now), usedToday, usedThisMonth);
        }
    }

    /// <summary>
    /// Adds <paramref name="bytes"/> at <paramref name="now"/> (a new day or month starts from zero) and re-judges the
    /// quota. Returns the warnings to log: a period that just crossed 80 %, once per period.
    /// </summary>
    public IReadOnlyList<string> Add(DateTimeOffset now, long bytes)
    {
        List<string>? warnings = null;
        lock (_lock)
        {
            var day = DayOf(now);
            var month = MonthOf(now);
            if (day != _day)
            {
                (_day, _usedDay, _warnedDay) = (day, 0, false);
            }
            if (month != _month)
            {
                (_month, _usedMonth, _warnedMonth) = (month, 0, false);
            }
            _usedDay += bytes;
            _usedMonth += bytes;
            var usedDay = _usedDay + OthersDay;
            var usedMonth = _usedMonth + OthersMonth;
            var quota = Quota;
            string? exceeded = null;
            if (quota?.Daily is { } daily)
            {
                if (usedDay >= daily)
                {
                    exceeded = Refusal("daily", usedDay, daily, new DateTimeOffset(now.UtcDateTime.Date, TimeSpan.Zero).AddDays(1));
                }
                else if (!_warnedDay && usedDay >= daily * 8 / 10)
                {
                    _warnedDay = true;
                    (warnings ??= []).Add($"token '{Name}' has used {Percent(usedDay, daily)} of its daily quota ({Format(usedDay)} of {Format(daily)})");
                }
            }
            if (quota?.Monthly is { } monthly)
            {
                if (usedMonth >= monthly)
                {
                    exceeded ??= Refusal("monthly", usedMonth, monthly, new DateTimeOffset(now.Year, now.Month, 1, 0, 0, 0, TimeSpan.Zero).AddMonths(1));
                }
                else if (!_warnedMonth && usedMonth >= monthly * 8 / 10)
                {
                    _warnedMonth = true;
                    (warnings ??= []).Add($"token '{Name}' has used {Percent(usedMonth, monthly)} of its monthly quota ({Format(usedMonth)} of {Format(monthly)})");
                }
            }
            _exceeded = exceeded;
            ResetsAt = exceeded is null ? null : (quota?.Daily is { } d && usedDay >= d
                ? new DateTimeOffset(now.UtcDateTime.Date, TimeSpan.Zero).AddDays(1)
                : new DateTimeOffset(now.Year, now.Month, 1, 0, 0, 0, TimeSpan.Zero).AddMonths(1));
        }
        return warnings ?? (IReadOnlyList<string>)[];
    }

    /// <summary>When the exceeded quota's period ends (the 429's Retry-After); null while not exceeded.</summary>
    public DateTimeOffset? ResetsAt { get; private set; }

    /// <summary>The larger share of a quota used (0..), for the console and the metric; null without a quota.</summary>
    public double? UsedRatio
    {
        get
        {
            lock (_lock)
            {
                var quota = Quota;
                double? ratio = null;
                if (quota?.Daily is { } daily)
                {
                    ratio = (double)(_usedDay + OthersDay) / daily;
                }
                if (quota?.Monthly is { } monthly)
                {
                    ratio = Math.Max(ratio ?? 0, (double)(_usedMonth + OthersMonth) / monthly);
                }
                return ratio;
            }
        }
    }

    private string Refusal(string period, long used, long quota, DateTimeOffset resets) =>
        $"Quota exceeded: token '{Name}' has used {Format(used)} of its {period} quota of {Format(quota)}; it resets at {resets.ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture)} UTC.";

    private static string Percent(long used, long quota) => ((double)used / quota).ToString("P0", CultureInfo.InvariantCulture);

    internal static string Format(long bytes) => Warren.Admin.Html.Bytes(bytes);
}
