using System.Collections.Frozen;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;
using Warren.Edge.Routing;

namespace Warren.Edge.Cluster;

/// <summary>
/// Which edge holds sessions for which service (docs/cluster.md, "Registry"). Each edge writes a heartbeat,
/// <c>{prefix}edge:NAME</c> (its advertised address, session count and the services it has sessions for, as JSON)
/// with the lease as its expiry, every third of the lease and whenever its routes change, keeps its name in the set
/// <c>{prefix}edges</c>, and publishes its name on <c>{prefix}registry</c>. Every edge keeps the whole registry in
/// memory (<see cref="Edges"/>), read again on each message, every third of the lease and after a reconnect; an edge
/// whose heartbeat expired (stopped, killed, cut off) is dropped from it. Nothing on the request path reads Redis.
/// </summary>
internal sealed partial class ClusterRegistry : IAsyncDisposable
{
    private readonly ClusterConnection _cluster;
    private readonly EdgeState _state;
    private readonly ILogger _logger;
    private readonly ITimer _heartbeat;
    private readonly RedisChannel _channel;
    private readonly SemaphoreSlim _writing = new(1, 1);
    private readonly TimeProvider _time;
    private FrozenDictionary<string, EdgeRecord> _edges = FrozenDictionary<string, EdgeRecord>.Empty;
    private volatile bool _disposed;
    private readonly Lock _applying = new();
    private long _readsStarted;
    private long _readApplied;

    private ClusterRegistry(ClusterConnection cluster, EdgeState state, string advertise, string? fingerprint, TimeProvider time, ILogger logger)
    {
        Fingerprint = fingerprint;
        _cluster = cluster;
        _state = state;
        _logger = logger;
        _time = time;
        Advertise = advertise;
        _channel = cluster.Channel("registry");
        var every = cluster.Config.Lease / 3;
        _heartbeat = time.CreateTimer(static s => _ = ((ClusterRegistry)s!).BeatAsync(), this, every, every);
        state.Routes.Changed += OnRoutesChanged;
        cluster.Restored += OnRoutesChanged;
    }

    /// <summary>The address other edges dial to reach this one (cluster.advertise, or the bound listener).</summary>
    public string Advertise { get; }

    /// <summary>SHA-256 of this edge's link certificate, which other edges pin when they dial it; null on a plain link.</summary>
    public string? Fingerprint { get; }

    /// <summary>Every live edge (this one too) as of the last read: name → what it published.</summary>
    public FrozenDictionary<string, EdgeRecord> Edges => Volatile.Read(ref _edges);

    /// <summary>Raised after the registry was read again and changed.</summary>
    public event Action? Changed;

    public static async Task<ClusterRegistry> StartAsync(ClusterConnection cluster, EdgeState state, string advertise, string? fingerprint, TimeProvider time, ILogger logger)
    {
        var registry = new ClusterRegistry(cluster, state, advertise, fingerprint, time, logger);
        try
        {
            await cluster.Subscriber.SubscribeAsync(registry._channel, (_, _) => _ = registry.ReadAsync()).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            Log.Failed(logger, ex.Message); // the multiplexer subscribes again when it reconnects
        }
        await registry.BeatAsync().ConfigureAwait(false);
        return registry;
    }

    private void OnRoutesChanged() => _ = BeatAsync();

    /// <summary>This edge's record as it is now.</summary>
    private EdgeRecord Current()
    {
        var served = _state.Routes.Services.Where(s => !s.Sessions.IsEmpty).ToList();
        return new()
        {
            Name = _cluster.EdgeName,
            Advertise = Advertise,
            Fingerprint = Fingerprint,
            Sessions = _state.Sessions.Count,
            Services = [.. served.Select(s => ServiceKey(s.Owner, s.Name)).Order(StringComparer.Ordinal)],
            // What other edges forward here (docs/cluster.md, "Forwarding"): each hostname with its path prefix, and ports.
            Http = [.. served.Where(s => s.Kind == Warren.Protocol.Tunnel.StreamKind.Http)
                .SelectMany(s => s.Registration.Hostnames.Select(h => h + (s.Registration.PathPrefix ?? ""))).Distinct().Order(StringComparer.Ordinal)],
            Tcp = [.. served.Where(s => s.Registration.Port is not null).Select(s => s.Registration.Port!.Value).Distinct().Order()],
            // Routes this edge knows without a session now (its agent restarts): the cluster answers 503 for them, never 404.
            Known = [.. _state.Routes.RoutedServices.Where(s => s.Kind == Warren.Protocol.Tunnel.StreamKind.Http && s.Sessions.IsEmpty)
                .SelectMany(s => s.Registration.Hostnames.Select(h => h + (s.Registration.PathPrefix ?? ""))).Distinct().Order(StringComparer.Ordinal)],
            At = _time.GetUtcNow(),
        };
    }

    /// <summary>
    /// The cluster as <c>warren status</c> and <c>GET /api/cluster</c> show it (docs/cluster.md, "Status"): this edge,
    /// whether it reaches Redis, and every live edge with its sessions, services and last heartbeat.
    /// </summary>
    public ClusterStatus Describe() => new(
        _cluster.EdgeName,
        _cluster.IsConnected ? "connected" : "unreachable",
        [.. Edges.Values.OrderBy(e => e.Name, StringComparer.Ordinal).Select(e => new ClusterEdgeStatus(
            e.Name, e.Advertise, e.Sessions, e.Services, e.At, e.Name == _cluster.EdgeName))]);

    /// <summary>A service across the cluster: its owning token and its name (two tokens may each have an "app").</summary>
    public static string ServiceKey(string owner, string name) => owner + "/" + name;

    /// <summary>Writes the heartbeat, tells the other edges, and reads the registry again.</summary>
    internal async Task BeatAsync()
    {
        if (_disposed || !_cluster.IsConnected)
        {
            return;
        }
        await _writing.WaitAsync().ConfigureAwait(false);
        try
        {
            var record = JsonSerializer.Serialize(Current(), RegistryJson.Default.EdgeRecord);
            var database = _cluster.Database;
            var batch = database.CreateBatch();
            var write = batch.StringSetAsync(_cluster.Key("edge:" + _cluster.EdgeName), record, _cluster.Config.Lease);
            var member = batch.SetAddAsync(_cluster.Key("edges"), _cluster.EdgeName);
            var publish = batch.PublishAsync(_channel, _cluster.EdgeName);
            batch.Execute();
            await Task.WhenAll(write, member, publish).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            Log.Failed(_logger, ex.Message);
        }
        finally
        {
            _writing.Release();
        }
        await ReadAsync().ConfigureAwait(false);
    }

    /// <summary>Reads every edge's heartbeat; names whose heartbeat expired leave the set.</summary>
    internal async Task ReadAsync()
    {
        if (_disposed)
        {
            return;
        }
        // Reads overlap (a message from each edge, the timer): only a read that started after the one in force may
        // replace it, or a slow read of older heartbeats would undo a newer one until the next message.
        var started = Interlocked.Increment(ref _readsStarted);
        try
        {
            var database = _cluster.Database;
            var names = await database.SetMembersAsync(_cluster.Key("edges")).ConfigureAwait(false);
            var keys = names.Select(n => _cluster.Key("edge:" + n)).ToArray();
            var values = keys.Length == 0 ? [] : await database.StringGetAsync(keys).ConfigureAwait(false);
            var edges = new Dictionary<string, EdgeRecord>(StringComparer.Ordinal);
            for (var i = 0; i < names.Length; i++)
            {
                if (values[i].IsNull)
                {
                    await database.SetRemoveAsync(_cluster.Key("edges"), names[i]).ConfigureAwait(false); // its lease ran out
                    continue;
                }
                try
                {
                    if (JsonSerializer.Deserialize((string)values[i]!, RegistryJson.Default.EdgeRecord) is { Name.Length: > 0 } record)
                    {
                        edges[record.Name] = record;
                    }
                }
                catch (JsonException)
                {
                    // A record this version cannot read: left out of the view.
                }
            }
            FrozenDictionary<string, EdgeRecord> previous;
            lock (_applying)
            {
                if (started < _readApplied)
                {
                    return; // a later read is in force already
                }
                _readApplied = started;
                previous = Interlocked.Exchange(ref _edges, edges.ToFrozenDictionary(StringComparer.Ordinal));
            }
            if (!previous.Keys.Order(StringComparer.Ordinal).SequenceEqual(edges.Keys.Order(StringComparer.Ordinal))
                || previous.Any(p => !edges.TryGetValue(p.Key, out var e) || !e.Services.SequenceEqual(p.Value.Services) || e.Advertise != p.Value.Advertise
                    || e.Fingerprint != p.Value.Fingerprint || !e.Http.SequenceEqual(p.Value.Http) || !e.Tcp.SequenceEqual(p.Value.Tcp)
                    || !e.Known.SequenceEqual(p.Value.Known)))
            {
                Changed?.Invoke();
            }
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            Log.Failed(_logger, ex.Message); // the last known registry stays in force
        }
    }

    public async ValueTask DisposeAsync()
    {
        _disposed = true;
        _state.Routes.Changed -= OnRoutesChanged;
        _cluster.Restored -= OnRoutesChanged;
        await _heartbeat.DisposeAsync().ConfigureAwait(false);
        try
        {
            // Leaving on purpose: the others drop this edge now rather than when its heartbeat expires.
            var database = _cluster.Database;
            await database.KeyDeleteAsync(_cluster.Key("edge:" + _cluster.EdgeName)).ConfigureAwait(false);
            await database.SetRemoveAsync(_cluster.Key("edges"), _cluster.EdgeName).ConfigureAwait(false);
            await _cluster.Subscriber.PublishAsync(_channel, _cluster.EdgeName).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            // Its heartbeat expires by itself.
        }
    }

    /// <summary>An edge's heartbeat as kept in Redis (docs/cluster.md, "Redis keys").</summary>
    internal sealed record EdgeRecord
    {
        [JsonPropertyName("name")] public string Name { get; init; } = "";
        [JsonPropertyName("advertise")] public string Advertise { get; init; } = "";
        [JsonPropertyName("sessions")] public int Sessions { get; init; }
        [JsonPropertyName("fingerprint")] public string? Fingerprint { get; init; }
        [JsonPropertyName("services")] public IReadOnlyList<string> Services { get; init; } = [];
        [JsonPropertyName("http")] public IReadOnlyList<string> Http { get; init; } = [];
        [JsonPropertyName("tcp")] public IReadOnlyList<int> Tcp { get; init; } = [];
        [JsonPropertyName("known")] public IReadOnlyList<string> Known { get; init; } = [];
        [JsonPropertyName("at")] public DateTimeOffset At { get; init; }
    }

    [JsonSerializable(typeof(EdgeRecord))]
    private sealed partial class RegistryJson : JsonSerializerContext;

    private static partial class Log
    {
        [LoggerMessage(1730, LogLevel.Warning, "Cluster: the registry could not be written or read ({Message}); keeping the last known one", EventName = "ClusterRegistryFailed")]
        public static partial void Failed(ILogger logger, string message);
    }
}
