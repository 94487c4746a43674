using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Prometheus;
using Warren.Edge.Tokens;
using Warren.Net.Time;

namespace Warren.Edge.Accounting;

/// <summary>
/// Traffic per service and per token, per hour, kept across restarts, and the tokens' quotas (docs/console.md,
/// "Traffic accounting", "Quotas"). The console's sampler hands over each second's counts; they are added to the
/// tokens' accounts at once (so a quota bites within a second) and written to <see cref="TrafficStore"/> every
/// <see cref="FlushInterval"/> on a timer, off the request path and off the thread pool (on the console's database
/// thread, <see cref="Dashboard.ConsoleDatabase"/>). Every account the request path may ask for is
/// loaded at start, so it never waits on the database.
/// </summary>
internal sealed partial class TrafficAccounting : IDisposable
{
    public static readonly TimeSpan FlushInterval = TimeSpan.FromSeconds(10);

    private readonly TrafficStore _store;
    private readonly TokenValidator _tokens;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly ConcurrentDictionary<string, TokenAccount> _accounts = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<(string Scope, string Name), DayTraffic> _today = new();
    private readonly Lock _pendingLock = new();
    private readonly Lock _flushLock = new();
    private Dictionary<(string Scope, string Name, long Hour), (long Requests, long BytesIn, long BytesOut)> _pending = [];
    private readonly System.Threading.ITimer _flush;
    private readonly Dashboard.ConsoleDatabase _database;
    private volatile bool _anyQuota;
    private bool _disposed;

    public TrafficAccounting(TrafficStore store, TokenValidator tokens, TimeProvider time, ILogger logger, Dashboard.ConsoleDatabase database)
    {
        (_store, _tokens, _time, _logger) = (store, tokens, time, logger);
        var now = time.GetUtcNow();
        var monthStart = new DateTimeOffset(now.Year, now.Month, 1, 0, 0, 0, TimeSpan.Zero);
        var month = store.TokenBytesSince(monthStart.ToUnixTimeSeconds() / 3600);
        var day = store.TokenBytesSince(TokenAccount.DayOf(now) * 24);
        foreach (var name in month.Keys.Concat(tokens.Grants.Select(g => g.Name)).Distinct(StringComparer.Ordinal))
        {
            var account = new TokenAccount(name);
            account.Load(now, day.GetValueOrDefault(name), month.GetValueOrDefault(name));
            _accounts[name] = account;
        }
        var today = TokenAccount.DayOf(now);
        foreach (var row in store.Query(today * 24, 24))
        {
            TodayOf(row.Scope, row.Name).Add(today, row.Requests, row.BytesIn + row.BytesOut);
        }
        RefreshQuotas();
        tokens.Changed += RefreshQuotas;
        // The timer only queues the flush: a full queue skips this one, and the next carries its counts.
        _database = database;
        _flush = time.CreateAligned(static s => ((TrafficAccounting)s!).QueueFlush(), this, FlushInterval);
    }

    /// <summary>True while some token has a quota: only then does the request path look at accounts.</summary>
    public bool AnyQuota => _anyQuota;

    public IEnumerable<TokenAccount> Accounts => _accounts.Values;

    public TrafficStore Store => _store;

    /// <summary>Each service's and token's requests and bytes today ("service" or "token", its name).</summary>
    public IEnumerable<KeyValuePair<(string Scope, string Name), DayTraffic>> Today => _today;

    /// <summary>Today's counts of one service or token (<paramref name="scope"/> "service" or "token").</summary>
    public DayTraffic TodayOf(string scope, string name) => _today.GetOrAdd((scope, name), static _ => new DayTraffic());

    /// <summary>The token's account; a token never seen before starts at zero (it has no traffic to load).</summary>
    public TokenAccount AccountOf(string token) => _accounts.GetOrAdd(token, static (name, now) =>
    {
        var account = new TokenAccount(name);
        account.Load(now, 0, 0);
        return account;
    }, _time.GetUtcNow());

    /// <summary>Takes every token's quota from the grants (edge.yaml and the store); run at start and when the store changes.</summary>
    public void RefreshQuotas()
    {
        var any = false;
        var now = _time.GetUtcNow();
        foreach (var grant in _tokens.Grants)
        {
            var account = AccountOf(grant.Name);
            account.Quota = grant.Quota;
            any |= grant.Quota is not null;
            // Judged now, not at the token's next byte: after a restart (use loaded from warren.db) or a quota change,
            // a token already over its quota is refused from its first request.
            foreach (var warning in account.Add(now, 0))
            {
                Log.QuotaWarning(_logger, warning);
            }
        }
        _anyQuota = any;
    }

    /// <summary>One second of one service (called by the sampler, never by the request path).</summary>
    public void Add(string service, TokenAccount account, long requests, long bytesIn, long bytesOut, DateTimeOffset now)
    {
        if (requests == 0 && bytesIn == 0 && bytesOut == 0)
        {
            return;
        }
        var hour = now.ToUnixTimeSeconds() / 3600;
        lock (_pendingLock)
        {
            Accumulate(("service", service, hour), requests, bytesIn, bytesOut);
            Accumulate(("token", account.Name, hour), requests, bytesIn, bytesOut);
        }
        account.CountTotals(requests, bytesIn + bytesOut);
        var day = TokenAccount.DayOf(now);
        TodayOf("service", service).Add(day, requests, bytesIn + bytesOut);
        TodayOf("token", account.Name).Add(day, requests, bytesIn + bytesOut);
        foreach (var warning in account.Add(now, bytesIn + bytesOut))
        {
            Log.QuotaWarning(_logger, warning);
        }
    }

    /// <summary>
    /// The other edges' use of <paramref name="account"/>'s token in <paramref name="period"/> (a day, or a month with
    /// <paramref name="isMonth"/>), read from the cluster (Cluster/ClusterQuotas.cs): the quota is judged with it from now on.
    /// </summary>
    public void ApplyOthers(TokenAccount account, long period, bool isMonth, long used, DateTimeOffset now)
    {
        foreach (var warning in account.SetOthers(now, period, isMonth, used))
        {
            Log.QuotaWarning(_logger, warning);
        }
    }

    /// <summary>Once a second after the services' counts: a new day or month clears the quotas of idle tokens too.</summary>
    public void Tick(DateTimeOffset now)
    {
        foreach (var account in _accounts.Values)
        {
            account.Add(now, 0);
        }
    }

    private void QueueFlush() => _database.TryPost(Flush);

    /// <summary>Writes what was counted since the last flush (the timer's work; also at stop, and by tests).</summary>
    public void Flush()
    {
        lock (_flushLock)
        {
            if (_disposed)
            {
                return;
            }
            Dictionary<(string Scope, string Name, long Hour), (long Requests, long BytesIn, long BytesOut)> rows;
            lock (_pendingLock)
            {
                rows = _pending;
                _pending = [];
            }
            try
            {
                _store.Add([.. rows.Select(r => (r.Key.Scope, r.Key.Name, r.Key.Hour, r.Value.Requests, r.Value.BytesIn, r.Value.BytesOut))]);
            }
            catch (Microsoft.Data.Sqlite.SqliteException ex)
            {
                // Busy (the CLI holds a write lock) or the disk is full: keep the counts for the next flush.
                lock (_pendingLock)
                {
                    foreach (var (key, value) in rows)
                    {
                        Accumulate(key, value.Requests, value.BytesIn, value.BytesOut);
                    }
                }
                Log.FlushFailed(_logger, ex.Message);
            }
        }
    }

    /// <summary>Per-token totals since start and quota use, as metrics (read at scrape time).</summary>
    public void Register(CollectorRegistry registry)
    {
        var f = Metrics.WithCustomRegistry(registry);
        var bytes = f.CreateCounter("warren_token_bytes_total", "Bytes moved by the token's services, both directions (what quotas count).", ["token"]);
        var requests = f.CreateCounter("warren_token_requests_total", "HTTP requests and TCP connections of the token's services.", ["token"]);
        var used = f.CreateGauge("warren_token_quota_used_ratio", "Share of the token's daily or monthly quota used (the larger); absent without a quota.", ["token"]);
        registry.AddBeforeCollectCallback(() =>
        {
            foreach (var account in _accounts.Values)
            {
                bytes.WithLabels(account.Name).IncTo(account.TotalBytes);
                requests.WithLabels(account.Name).IncTo(account.TotalRequests);
                if (account.UsedRatio is { } ratio)
                {
                    used.WithLabels(account.Name).Set(ratio);
                }
            }
        });
    }

    private void Accumulate((string, string, long) key, long requests, long bytesIn, long bytesOut)
    {
        var current = _pending.GetValueOrDefault(key);
        _pending[key] = (current.Requests + requests, current.BytesIn + bytesIn, current.BytesOut + bytesOut);
    }

    public void Dispose()
    {
        _tokens.Changed -= RefreshQuotas;
        _flush.Dispose();
        Flush(); // a clean stop loses nothing
        lock (_flushLock)
        {
            _disposed = true;
        }
    }

    private static partial class Log
    {
        [LoggerMessage(950, LogLevel.Warning, "Quota warning: {Message}", EventName = "QuotaWarning")]
        public static partial void QuotaWarning(ILogger logger, string message);

        [LoggerMessage(951, LogLevel.Warning, "Traffic accounting: writing to the database failed, kept for the next try: {Message}", EventName = "AccountingFlushFailed")]
        public static partial void FlushFailed(ILogger logger, string message);
    }
}
