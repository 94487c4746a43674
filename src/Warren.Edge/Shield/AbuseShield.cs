using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Warren.Configuration;
using Warren.Edge.Limits;
using Warren.Net.Time;

namespace Warren.Edge.Shield;

/// <summary>
/// The abuse shield (docs/policy.md, "Abuse shield"): counts the refusals each client network earns (failed policy
/// authentication, rate and connection limits, failed agent logins) in a fixed window, and bans a network that reaches
/// edge.yaml's <c>shield</c> thresholds, edge-wide, for <c>ban_time</c>. A network is an IPv4 address (its /32) or an
/// IPv6 /64 by default (<see cref="BanKey"/>, <c>shield.ipv4_prefix</c>, <c>shield.ipv6_prefix</c>). A banned client's
/// connections are refused at accept on every listener (public HTTP(S) before TLS, TCP services, agents), and an HTTP
/// request that still arrives (through a trusted proxy) gets 403.
/// <para>
/// The request path only reads: <see cref="IsBanned"/> is one volatile read while nobody is banned, else a lock-free
/// <see cref="ConcurrentDictionary{TKey,TValue}"/> lookup per prefix length some ban has (one, unless a reload changed
/// the prefix or the admin banned a network of another size). Counting happens only on refusals (a short lock on that
/// network's counter, no I/O). Bans are written to warren.db by <see cref="BanStore"/>'s background task, read back
/// at start, and a timer forgets expired bans and stale counters.
/// </para>
/// </summary>
internal sealed partial class AbuseShield : IAsyncDisposable
{
    /// <summary>Addresses with strikes tracked at once: past it new addresses are not counted until the sweep frees room.</summary>
    internal const int MaxTracked = 100_000;

    private static readonly TimeSpan SweepInterval = TimeSpan.FromSeconds(30);

    private readonly ConcurrentDictionary<IPNetwork, BanEntry> _bans = new();
    private readonly ConcurrentDictionary<IPNetwork, Strikes> _strikes = new();
    private readonly PrefixLengths _prefixes = new();
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
                if (_bans.TryAdd(ban.Network, ban))
                {
                    _banCount++;
                    _prefixes.Add(ban.Network);
                }
            }
            if (_banCount > 0)
            {
                Log.Restored(logger, _banCount);
            }
        }
        _sweeper = time.CreateAligned(static s => ((AbuseShield)s!).Sweep(), this, SweepInterval);
    }

    /// <summary>Set once by the edge when it has a metrics registry.</summary>
    public ShieldMetrics? Metrics { get; set; }

    /// <summary>The shield's clock (Retry-After of a refusal).</summary>
    public DateTimeOffset Now => _time.GetUtcNow();

    /// <summary>Bans in force (and expired ones the next sweep removes).</summary>
    public int Count => Volatile.Read(ref _banCount);

    /// <summary>Applies a reloaded edge.yaml's <c>shield</c>: new thresholds count from now on; bans in force stay.</summary>
    public void Configure(ShieldConfig config) => Volatile.Write(ref _settings, new Settings(config));

    /// <summary>True when <paramref name="client"/> (or a network holding it) is banned now. Lock-free, no I/O: it runs inline on the request path.</summary>
    public bool IsBanned(IPAddress? client) => IsBanned(client, out _);

    /// <inheritdoc cref="IsBanned(IPAddress?)"/>
    public bool IsBanned(IPAddress? client, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out BanEntry? ban)
    {
        ban = null;
        if (Volatile.Read(ref _banCount) == 0 || client is null)
        {
            return false;
        }
        var address = ClientKey.Normalize(client);
        foreach (var prefix in _prefixes.Of(address.AddressFamily))
        {
            if (_bans.TryGetValue(BanKey.Of(address, prefix), out ban) && ban.Until > _time.GetUtcNow())
            {
                return true;
            }
        }
        ban = null;
        return false;
    }

    /// <summary>
    /// A client just accepted on a listener that refuses banned clients before reading a byte: true (and the socket
    /// set to close with a reset, counted as <paramref name="kind"/>) when its address is banned. Lock-free, no I/O,
    /// like <see cref="IsBanned(IPAddress?)"/>.
    /// </summary>
    public bool Refuse(Socket client, ShieldRefusal kind = ShieldRefusal.Tcp)
    {
        if (Volatile.Read(ref _banCount) == 0 || !IsBanned((client.RemoteEndPoint as IPEndPoint)?.Address))
        {
            return false;
        }
        client.LingerState = new LingerOption(true, 0);
        Metrics?.Refused(kind);
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
        if (!settings.Enabled || threshold == 0 || client is null)
        {
            return;
        }
        var address = ClientKey.Normalize(client);
        if (address.Equals(IPAddress.None) || settings.IsExempt(address) || IsBanned(address))
        {
            return;
        }
        var network = settings.KeyOf(address);
        Struck?.Invoke(network, kind);
        CountStrikes(network, kind, 1, settings, "");
    }

    /// <summary>
    /// Strikes the other edges of a cluster counted for <paramref name="network"/> (Cluster/ClusterStrikes.cs): added to
    /// this edge's count, which bans the network here when the sum reaches the threshold (docs/cluster.md, "Shared counts").
    /// </summary>
    public void AddStrikes(IPNetwork network, StrikeKind kind, int count)
    {
        var settings = Volatile.Read(ref _settings);
        var threshold = kind == StrikeKind.AuthFailure ? settings.AuthFailures : settings.LimitHits;
        if (!settings.Enabled || threshold == 0 || count <= 0 || IsBannedNetwork(network))
        {
            return;
        }
        CountStrikes(network, kind, count, settings, " across the cluster");
    }

    /// <summary>
    /// A strike counted on this edge (not one added from the cluster), for the cluster to share; raised on the caller's
    /// thread (the request path, after a refusal): a handler must not block.
    /// </summary>
    public event Action<IPNetwork, StrikeKind>? Struck;

    /// <summary>The window strikes are counted in (shield.window).</summary>
    public TimeSpan Window => Volatile.Read(ref _settings).Window;

    private void CountStrikes(IPNetwork network, StrikeKind kind, int count, Settings settings, string where)
    {
        var threshold = kind == StrikeKind.AuthFailure ? settings.AuthFailures : settings.LimitHits;
        if (!_strikes.TryGetValue(network, out var strikes))
        {
            if (Volatile.Read(ref _trackedCount) >= MaxTracked)
            {
                return;
            }
            strikes = _strikes.GetOrAdd(network, static _ => new Strikes());
            if (strikes.Counted())
            {
                Interlocked.Increment(ref _trackedCount);
            }
        }
        var now = _time.GetTimestamp();
        if (!strikes.Add(kind, count, threshold, settings.Window, now, _time))
        {
            return;
        }
        if (_strikes.TryRemove(new KeyValuePair<IPNetwork, Strikes>(network, strikes)))
        {
            Interlocked.Decrement(ref _trackedCount);
        }
        if (IsBannedNetwork(network))
        {
            return; // another request's strike banned it a moment ago: one ban, counted once
        }
        var what = kind == StrikeKind.AuthFailure ? "authentication failures" : "rate or connection limit refusals";
        Ban(network, settings.BanTime, $"{threshold} {what} within {Seconds(settings.Window)}s{where}",
            kind == StrikeKind.AuthFailure ? "auth_failures" : "limit_hits");
    }

    /// <summary>Whether a ban in force covers <paramref name="network"/> (its base address).</summary>
    private bool IsBannedNetwork(IPNetwork network) => IsBanned(network.BaseAddress);

    /// <summary>The network a ban of <paramref name="address"/> covers: its /<c>shield.ipv4_prefix</c> or /<c>shield.ipv6_prefix</c>.</summary>
    public IPNetwork NetworkOf(IPAddress address) => Volatile.Read(ref _settings).KeyOf(ClientKey.Normalize(address));

    /// <summary>
    /// Bans <paramref name="network"/> for <paramref name="duration"/> (a strike threshold, or the admin API); an
    /// existing ban is replaced. Null when <c>max_bans</c> are in force already.
    /// </summary>
    public BanEntry? Ban(IPNetwork network, TimeSpan duration, string reason, string cause = "admin", bool fromCluster = false)
    {
        var now = _time.GetUtcNow();
        var ban = new BanEntry(network, now + duration, reason, now);
        var added = false;
        if (!_bans.ContainsKey(network))
        {
            if (Volatile.Read(ref _banCount) >= Volatile.Read(ref _settings).MaxBans)
            {
                if (Interlocked.Exchange(ref _fullLogged, 1) == 0)
                {
                    Log.Full(_logger, Volatile.Read(ref _settings).MaxBans, BanKey.Format(network));
                }
                return null;
            }
        }
        var renewed = false; // replacing an expired ban is a new ban; replacing one in force is not
        _bans.AddOrUpdate(network, _ => { added = true; return ban; }, (_, old) => { added = false; renewed = old.Until <= now; return ban; });
        if (added)
        {
            _prefixes.Add(network);
            Interlocked.Increment(ref _banCount);
        }
        _store?.Save(ban);
        if (added || renewed)
        {
            Metrics?.Banned(cause); // warren_shield_bans_total counts bans made, not a ban in force replaced
        }
        Log.Banned(_logger, BanKey.Format(network), Seconds(duration), reason);
        if (!fromCluster)
        {
            Banned?.Invoke(ban);
        }
        return ban;
    }

    /// <summary>
    /// A ban made on this edge (a strike threshold or the admin API), not one received from the cluster: the cluster
    /// shares it (Cluster/ClusterBans.cs). Raised on the caller's thread; a handler must not block.
    /// </summary>
    public event Action<BanEntry>? Banned;

    /// <summary>A ban lifted on this edge by hand (not by the cluster, not by expiry): the cluster lifts it everywhere.</summary>
    public event Action<IPNetwork>? Lifted;

    /// <summary>Lifts the ban on exactly <paramref name="network"/> (admin API); false when it was not banned.</summary>
    public bool Lift(IPNetwork network, bool fromCluster = false)
    {
        if (!_bans.TryRemove(network, out var ban))
        {
            return false;
        }
        Removed(network);
        _store?.Delete(network);
        if (!fromCluster)
        {
            Lifted?.Invoke(network);
        }
        var live = ban.Until > _time.GetUtcNow();
        if (live)
        {
            Log.Lifted(_logger, BanKey.Format(network));
        }
        return live;
    }

    /// <summary>Lifts every ban that covers <paramref name="address"/> (its own, its /64's) (admin API); false when none was in force.</summary>
    public bool Lift(IPAddress address)
    {
        var normalized = ClientKey.Normalize(address);
        var lifted = false;
        foreach (var prefix in _prefixes.Of(normalized.AddressFamily))
        {
            lifted |= Lift(BanKey.Of(normalized, prefix));
        }
        return lifted;
    }

    private void Removed(IPNetwork network)
    {
        Interlocked.Decrement(ref _banCount);
        _prefixes.Remove(network);
    }

    /// <summary>The bans in force, soonest to end first.</summary>
    public IReadOnlyList<BanEntry> List()
    {
        var now = _time.GetUtcNow();
        return [.. _bans.Values.Where(b => b.Until > now).OrderBy(b => b.Until).ThenBy(b => BanKey.Format(b.Network), StringComparer.Ordinal)];
    }

    /// <summary>Waits until every ban change so far is in warren.db (tests).</summary>
    public Task FlushAsync() => _store?.FlushAsync() ?? Task.CompletedTask;

    /// <summary>Forgets bans that ended (and deletes them from the file) and counters whose window ended.</summary>
    private void Sweep()
    {
        var now = _time.GetUtcNow();
        var expired = 0;
        foreach (var (network, ban) in _bans)
        {
            if (ban.Until <= now && _bans.TryRemove(new KeyValuePair<IPNetwork, BanEntry>(network, ban)))
            {
                Removed(network);
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
        foreach (var (network, strikes) in _strikes)
        {
            if (strikes.IsStale(window, timestamp, _time) && _strikes.TryRemove(new KeyValuePair<IPNetwork, Strikes>(network, strikes)))
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
        public int Ipv4Prefix { get; } = config.Ipv4Prefix;
        public int Ipv6Prefix { get; } = config.Ipv6Prefix;

        /// <summary>The network <paramref name="normalized"/> is counted and banned by.</summary>
        public IPNetwork KeyOf(IPAddress normalized) =>
            BanKey.Of(normalized, normalized.AddressFamily == AddressFamily.InterNetworkV6 ? Ipv6Prefix : Ipv4Prefix);

        public bool IsExempt(IPAddress address) => Array.Exists(_exempt, n => n.Contains(address));
    }

    /// <summary>
    /// The prefix lengths some ban in force has, per address family, so a lookup tries only those: one, unless a reload
    /// changed <c>shield.ipv*_prefix</c> while older bans last or the admin banned a network of another size. Changed
    /// under a lock when a ban is added or removed (rare); read lock-free.
    /// </summary>
    private sealed class PrefixLengths
    {
        private readonly Lock _lock = new();
        private readonly int[] _v4Count = new int[33], _v6Count = new int[129];
        private int[] _v4 = [], _v6 = [];

        public int[] Of(AddressFamily family) => family == AddressFamily.InterNetworkV6 ? Volatile.Read(ref _v6) : Volatile.Read(ref _v4);

        public void Add(IPNetwork network) => Change(network, +1);

        public void Remove(IPNetwork network) => Change(network, -1);

        private void Change(IPNetwork network, int delta)
        {
            var v6 = network.BaseAddress.AddressFamily == AddressFamily.InterNetworkV6;
            var counts = v6 ? _v6Count : _v4Count;
            lock (_lock)
            {
                counts[network.PrefixLength] += delta;
                int[] lengths = [.. Enumerable.Range(0, counts.Length).Where(p => counts[p] > 0).Reverse()];
                if (v6)
                {
                    Volatile.Write(ref _v6, lengths);
                }
                else
                {
                    Volatile.Write(ref _v4, lengths);
                }
            }
        }
    }

    /// <summary>One network's refusals in its current window.</summary>
    private sealed class Strikes
    {
        private readonly Lock _lock = new();
        private long _windowStart;
        private int _auth, _limit, _counted;

        /// <summary>True the first time only: whoever added the entry counts it.</summary>
        public bool Counted() => Interlocked.Exchange(ref _counted, 1) == 0;

        /// <summary>Adds <paramref name="count"/>; true when these reach <paramref name="threshold"/> (the caller bans, once).</summary>
        public bool Add(StrikeKind kind, int count, int threshold, TimeSpan window, long now, TimeProvider time)
        {
            lock (_lock)
            {
                if (_windowStart == 0 || time.GetElapsedTime(_windowStart, now) >= window)
                {
                    (_windowStart, _auth, _limit) = (now, 0, 0);
                }
                ref var counter = ref kind == StrikeKind.AuthFailure ? ref _auth : ref _limit;
                var before = counter;
                counter += count;
                return before < threshold && counter >= threshold;
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
