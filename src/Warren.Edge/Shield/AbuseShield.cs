using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using Microsoft.Extensions.Logging;
using Warren.Configuration;
using Warren.Edge.Policy;

namespace Warren.Edge.Shield;

/// <summary>
/// The abuse shield (docs/policy.md, "Abuse shield"): counts the policy refusals each client address earns (failed
/// authentication, rate and connection limits) in a fixed window, and bans an address that reaches edge.yaml's
/// <c>shield</c> thresholds, edge-wide, for <c>ban_time</c>. A banned address's HTTP requests get 403 and its TCP
/// connections are reset at accept.
/// <para>
/// The request path only reads: <see cref="IsBanned"/> is one volatile read while nobody is banned, else a lock-free
/// <see cref="ConcurrentDictionary{TKey,TValue}"/> lookup. Counting happens only on refusals (a short lock on that
/// address's counter, no I/O). Bans are written to warren.db by <see cref="BanStore"/>'s background task, read back
/// at start, and a timer forgets expired bans and stale counters.
/// </para>
/// </summary>
internal sealed partial class AbuseShield : IAsyncDisposable
{
    /// <summary>Addresses with strikes tracked at once: past it new addresses are not counted until the sweep frees room.</summary>
    internal const int MaxTracked = 100_000;

    private static readonly TimeSpan SweepInterval = TimeSpan.FromSeconds(30);

    private readonly ConcurrentDictionary<IPAddress, BanEntry> _bans = new();
    private readonly ConcurrentDictionary<IPAddress, Strikes> _strikes = new();
    private readonly BanStore? _store;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly ITimer _sweeper;
    private Settings _settings;
    private int _banCount, _trackedCount, _fullLogged;

    public AbuseShield(ShieldConfig config, BanStore? store, TimeProvider time, ILogger logger)
    {
        (_store, _time, _logger) = (store, time, logger);
        _settings = new Settings(config);
        if (store is not null)
        {
            foreach (var ban in store.Load(time.GetUtcNow()))
            {
                if (_bans.TryAdd(ban.Address, ban))
                {
                    _banCount++;
                }
            }
            if (_banCount > 0)
            {
                Log.Restored(logger, _banCount);
            }
        }
        _sweeper = time.CreateTimer(static s => ((AbuseShield)s!).Sweep(), this, SweepInterval, SweepInterval);
    }

    /// <summary>Set once by the edge when it has a metrics registry.</summary>
    public ShieldMetrics? Metrics { get; set; }

    /// <summary>The shield's clock (Retry-After of a refusal).</summary>
    public DateTimeOffset Now => _time.GetUtcNow();

    /// <summary>Bans in force (and expired ones the next sweep removes).</summary>
    public int Count => Volatile.Read(ref _banCount);

    /// <summary>Applies a reloaded edge.yaml's <c>shield</c>: new thresholds count from now on; bans in force stay.</summary>
    public void Configure(ShieldConfig config) => Volatile.Write(ref _settings, new Settings(config));

    /// <summary>True when <paramref name="client"/> is banned now. Lock-free, no I/O: it runs inline on the request path.</summary>
    public bool IsBanned(IPAddress? client) => IsBanned(client, out _);

    /// <inheritdoc cref="IsBanned(IPAddress?)"/>
    public bool IsBanned(IPAddress? client, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out BanEntry? ban)
    {
        ban = null;
        if (Volatile.Read(ref _banCount) == 0 || client is null)
        {
            return false;
        }
        return _bans.TryGetValue(ClientAddress.Normalize(client)!, out ban) && ban.Until > _time.GetUtcNow();
    }

    /// <summary>
    /// A TCP client just accepted: true (and the socket set to close with a reset, counted) when its address is
    /// banned. Lock-free, no I/O, like <see cref="IsBanned(IPAddress?)"/>.
    /// </summary>
    public bool Refuse(System.Net.Sockets.Socket client)
    {
        if (Volatile.Read(ref _banCount) == 0 || !IsBanned((client.RemoteEndPoint as IPEndPoint)?.Address))
        {
            return false;
        }
        client.LingerState = new System.Net.Sockets.LingerOption(true, 0);
        Metrics?.Refused(tcp: true);
        return true;
    }

    /// <summary>
    /// Counts one refusal of <paramref name="client"/>; bans it when this reaches the threshold for
    /// <paramref name="kind"/> within the window. Called only when a policy has already refused the client.
    /// </summary>
    public void Strike(IPAddress? client, StrikeKind kind)
    {
        var settings = Volatile.Read(ref _settings);
        var threshold = kind == StrikeKind.AuthFailure ? settings.AuthFailures : settings.LimitHits;
        if (!settings.Enabled || threshold == 0 || ClientAddress.Normalize(client) is not { } address || address.Equals(IPAddress.None)
            || settings.IsExempt(address) || IsBanned(address))
        {
            return;
        }
        if (!_strikes.TryGetValue(address, out var strikes))
        {
            if (Volatile.Read(ref _trackedCount) >= MaxTracked)
            {
                return;
            }
            strikes = _strikes.GetOrAdd(address, static _ => new Strikes());
            if (strikes.Counted())
            {
                Interlocked.Increment(ref _trackedCount);
            }
        }
        var now = _time.GetTimestamp();
        if (!strikes.Add(kind, threshold, settings.Window, now, _time))
        {
            return;
        }
        if (_strikes.TryRemove(new KeyValuePair<IPAddress, Strikes>(address, strikes)))
        {
            Interlocked.Decrement(ref _trackedCount);
        }
        var what = kind == StrikeKind.AuthFailure ? "authentication failures" : "rate or connection limit refusals";
        Ban(address, settings.BanTime, $"{threshold} {what} within {Seconds(settings.Window)}s",
            kind == StrikeKind.AuthFailure ? "auth_failures" : "limit_hits");
    }

    /// <summary>
    /// Bans <paramref name="address"/> for <paramref name="duration"/> (a strike threshold, or the admin API); an
    /// existing ban is replaced. Null when <c>max_bans</c> are in force already.
    /// </summary>
    public BanEntry? Ban(IPAddress address, TimeSpan duration, string reason, string cause = "admin")
    {
        address = ClientAddress.Normalize(address)!;
        var now = _time.GetUtcNow();
        var ban = new BanEntry(address, now + duration, reason, now);
        var added = false;
        if (!_bans.ContainsKey(address))
        {
            if (Volatile.Read(ref _banCount) >= Volatile.Read(ref _settings).MaxBans)
            {
                if (Interlocked.Exchange(ref _fullLogged, 1) == 0)
                {
                    Log.Full(_logger, Volatile.Read(ref _settings).MaxBans, address.ToString());
                }
                return null;
            }
        }
        _bans.AddOrUpdate(address, _ => { added = true; return ban; }, (_, _) => { added = false; return ban; });
        if (added)
        {
            Interlocked.Increment(ref _banCount);
        }
        _store?.Save(ban);
        Metrics?.Banned(cause);
        Log.Banned(_logger, address.ToString(), Seconds(duration), reason);
        return ban;
    }

    /// <summary>Lifts the ban on <paramref name="address"/> (admin API); false when it was not banned.</summary>
    public bool Lift(IPAddress address)
    {
        address = ClientAddress.Normalize(address)!;
        if (!_bans.TryRemove(address, out var ban))
        {
            return false;
        }
        Interlocked.Decrement(ref _banCount);
        _store?.Delete(address);
        var live = ban.Until > _time.GetUtcNow();
        if (live)
        {
            Log.Lifted(_logger, address.ToString());
        }
        return live;
    }

    /// <summary>The bans in force, soonest to end first.</summary>
    public IReadOnlyList<BanEntry> List()
    {
        var now = _time.GetUtcNow();
        return [.. _bans.Values.Where(b => b.Until > now).OrderBy(b => b.Until).ThenBy(b => b.Address.ToString(), StringComparer.Ordinal)];
    }

    /// <summary>Waits until every ban change so far is in warren.db (tests).</summary>
    public Task FlushAsync() => _store?.FlushAsync() ?? Task.CompletedTask;

    /// <summary>Forgets bans that ended (and deletes them from the file) and counters whose window ended.</summary>
    private void Sweep()
    {
        var now = _time.GetUtcNow();
        var expired = 0;
        foreach (var (address, ban) in _bans)
        {
            if (ban.Until <= now && _bans.TryRemove(new KeyValuePair<IPAddress, BanEntry>(address, ban)))
            {
                Interlocked.Decrement(ref _banCount);
                expired++;
            }
        }
        if (expired > 0)
        {
            _store?.DeleteExpired(now);
            Log.Expired(_logger, expired);
        }
        var window = Volatile.Read(ref _settings).Window;
        var timestamp = _time.GetTimestamp();
        foreach (var (address, strikes) in _strikes)
        {
            if (strikes.IsStale(window, timestamp, _time) && _strikes.TryRemove(new KeyValuePair<IPAddress, Strikes>(address, strikes)))
            {
                Interlocked.Decrement(ref _trackedCount);
            }
        }
        Volatile.Write(ref _fullLogged, 0);
    }

    private static string Seconds(TimeSpan value) => value.TotalSeconds.ToString(CultureInfo.InvariantCulture);

    public async ValueTask DisposeAsync()
    {
        await _sweeper.DisposeAsync().ConfigureAwait(false);
        if (_store is not null)
        {
            await _store.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>edge.yaml's <c>shield</c> with its exempt list parsed once.</summary>
    private sealed class Settings(ShieldConfig config)
    {
        private readonly IPNetwork[] _exempt = [.. config.Exempt.Select(e => ConfigFormats.TryParseNetwork(e, out var n) ? n : throw new FormatException($"shield.exempt: '{e}' was not validated"))];

        public bool Enabled { get; } = config.Enabled;
        public int AuthFailures { get; } = config.AuthFailures;
        public int LimitHits { get; } = config.LimitHits;
        public TimeSpan Window { get; } = config.Window;
        public TimeSpan BanTime { get; } = config.BanTime;
        public int MaxBans { get; } = config.MaxBans;

        public bool IsExempt(IPAddress address) => Array.Exists(_exempt, n => n.Contains(address));
    }

    /// <summary>One address's refusals in its current window.</summary>
    private sealed class Strikes
    {
        private readonly Lock _lock = new();
        private long _windowStart;
        private int _auth, _limit, _counted;

        /// <summary>True the first time only: whoever added the entry counts it.</summary>
        public bool Counted() => Interlocked.Exchange(ref _counted, 1) == 0;

        /// <summary>Adds one; true when this one reaches <paramref name="threshold"/> (the caller bans, once).</summary>
        public bool Add(StrikeKind kind, int threshold, TimeSpan window, long now, TimeProvider time)
        {
            lock (_lock)
            {
                if (_windowStart == 0 || time.GetElapsedTime(_windowStart, now) >= window)
                {
                    (_windowStart, _auth, _limit) = (now, 0, 0);
                }
                var count = kind == StrikeKind.AuthFailure ? ++_auth : ++_limit;
                return count == threshold;
            }
        }

        public bool IsStale(TimeSpan window, long now, TimeProvider time)
        {
            lock (_lock)
            {
                return _windowStart != 0 && time.GetElapsedTime(_windowStart, now) >= window;
            }
        }
    }

    private static partial class Log
    {
        [LoggerMessage(720, LogLevel.Warning, "Abuse shield: banned {Client} for {Seconds}s: {Reason}", EventName = "ShieldBanned")]
        public static partial void Banned(ILogger logger, string client, string seconds, string reason);

        [LoggerMessage(721, LogLevel.Information, "Abuse shield: the ban on {Client} was lifted", EventName = "ShieldLifted")]
        public static partial void Lifted(ILogger logger, string client);

        [LoggerMessage(723, LogLevel.Information, "Abuse shield: {Count} ban(s) from warren.db are in force again", EventName = "ShieldRestored")]
        public static partial void Restored(ILogger logger, int count);

        [LoggerMessage(724, LogLevel.Debug, "Abuse shield: {Count} ban(s) ended", EventName = "ShieldExpired")]
        public static partial void Expired(ILogger logger, int count);

        [LoggerMessage(725, LogLevel.Warning, "Abuse shield: {Max} bans are in force (shield.max_bans), so {Client} is not banned; raise max_bans or shorten ban_time", EventName = "ShieldFull")]
        public static partial void Full(ILogger logger, int max, string client);
    }
}
