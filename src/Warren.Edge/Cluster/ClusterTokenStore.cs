using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;
using Warren.Configuration;
using Warren.Edge.Tokens;

namespace Warren.Edge.Cluster;

/// <summary>
/// Database tokens shared by a cluster's edges (docs/cluster.md, "Tokens"): one Redis hash, <c>{prefix}tokens</c>,
/// a field per token name holding its SHA-256 and grants as JSON (never the secret). Every edge keeps the whole set
/// in memory and answers <see cref="List"/> from it, so an agent's login never waits on Redis, and keeps serving
/// with it while Redis is away. A create or revoke writes the hash and publishes the name on <c>{prefix}tokens</c>;
/// every edge then reads the hash again and raises <see cref="Updated"/>, so a revoked token's sessions close on
/// every edge within moments (docs/cluster.md, "Revocation"). A read every 10 s and one after each reconnect catch
/// up on a message missed while the link was down.
/// </summary>
internal sealed partial class ClusterTokenStore : ITokenStore
{
    private static readonly TimeSpan CatchUpInterval = TimeSpan.FromSeconds(10);
    private readonly ClusterConnection _cluster;
    private readonly ILogger _logger;
    private readonly RedisKey _hash;
    private readonly RedisChannel _channel;
    private readonly ITimer _catchUp;
    private readonly SemaphoreSlim _loading = new(1, 1);
    private IReadOnlyList<StoredToken> _tokens = [];
    private string _lastSeen = "";
    private int _changed;
    private volatile bool _disposed;

    private ClusterTokenStore(ClusterConnection cluster, TimeProvider time, ILogger logger)
    {
        _cluster = cluster;
        _logger = logger;
        _hash = cluster.Key("tokens");
        _channel = cluster.Channel("tokens");
        cluster.Restored += OnRestored;
        _catchUp = time.CreateTimer(static s => ((ClusterTokenStore)s!).OnRestored(), this, CatchUpInterval, CatchUpInterval);
    }

    /// <summary>Subscribes to changes and loads the tokens once (when Redis answers; otherwise the first catch-up does).</summary>
    public static async Task<ClusterTokenStore> StartAsync(ClusterConnection cluster, TimeProvider time, ILogger logger)
    {
        var store = new ClusterTokenStore(cluster, time, logger);
        try
        {
            await cluster.Subscriber.SubscribeAsync(store._channel, (_, _) => store.OnRestored()).ConfigureAwait(false);
            await store.LoadAsync().ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            Log.LoadFailed(logger, ex.Message); // the subscription comes back with the connection; the catch-up loads
        }
        return store;
    }

    public string Location => $"Redis hash {_cluster.Config.KeyPrefix}tokens";

    public event Action? Updated;

    public IReadOnlyList<StoredToken> List() => Volatile.Read(ref _tokens);

    public bool HasChanged() => Interlocked.Exchange(ref _changed, 0) == 1;

    public string Create(string name, IReadOnlyList<string> allowHosts, IReadOnlyList<int> allowPorts, int? maxSessions, QuotaConfig? quota = null, PrivateGrant? privateServices = null)
    {
        privateServices ??= PrivateGrant.None;
        var secret = TokenStore.NewSecret();
        var record = new TokenRecord
        {
            Sha256 = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(secret))),
            AllowHosts = allowHosts, AllowPorts = allowPorts, MaxSessions = maxSessions, CreatedAt = DateTimeOffset.UtcNow,
            QuotaDaily = quota?.Daily, QuotaMonthly = quota?.Monthly, AllowPrivate = privateServices.Publish, AllowConnect = privateServices.Connect,
        };
        if (!Write(() => _cluster.Database.HashSet(_hash, name, JsonSerializer.Serialize(record, TokenJson.Default.TokenRecord), When.NotExists)))
        {
            throw new InvalidOperationException($"a token named '{name}' already exists (revoked tokens keep their name)");
        }
        Announce(name);
        return secret;
    }

    public bool Revoke(string name)
    {
        // Read, mark, write back: two edges revoking one token at once both write a revoked record, which is the same outcome.
        var value = Write(() => _cluster.Database.HashGet(_hash, name));
        if (value.IsNull || Parse(value) is not { RevokedAt: null } record)
        {
            return false;
        }
        var revoked = record with { RevokedAt = DateTimeOffset.UtcNow };
        Write(() => _cluster.Database.HashSet(_hash, name, JsonSerializer.Serialize(revoked, TokenJson.Default.TokenRecord)));
        Announce(name);
        return true;
    }

    /// <summary>Tells every edge (this one too) to read the tokens again now.</summary>
    private void Announce(string name)
    {
        Write(() =>
        {
            _cluster.Subscriber.Publish(_channel, name);
            // This edge does not wait for its own message: the caller refreshes next (AdminApi), so read the hash now.
            // Off the request path (the admin API and the console call this on a worker thread, the CLI on its own).
            LoadAsync().GetAwaiter().GetResult();
            return true;
        });
    }

    /// <summary>A write to Redis; unreachable, it fails with a message the admin API and the CLI show as they are.</summary>
    private static T Write<T>(Func<T> write)
    {
        try
        {
            return write();
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            throw new InvalidOperationException($"the cluster's Redis is unreachable, tokens cannot be created or revoked now ({ex.Message})", ex);
        }
    }

    private void OnRestored()
    {
        if (!_disposed)
        {
            _ = CatchUpAsync();
        }
    }

    private async Task CatchUpAsync()
    {
        try
        {
            await LoadAsync().ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException or ObjectDisposedException)
        {
            Log.LoadFailed(_logger, ex.Message); // keep the last known tokens (docs/cluster.md, "Redis unavailable")
        }
    }

    /// <summary>Reads the whole hash; when it differs from what this edge holds, swaps it in and raises <see cref="Updated"/>.</summary>
    private async Task LoadAsync()
    {
        await _loading.WaitAsync().ConfigureAwait(false);
        bool changed;
        try
        {
            var entries = await _cluster.Database.HashGetAllAsync(_hash).ConfigureAwait(false);
            var tokens = new List<StoredToken>(entries.Length);
            foreach (var entry in entries.OrderBy(e => (string?)e.Name, StringComparer.Ordinal))
            {
                if (Parse(entry.Value) is { } record && ToStored(entry.Name!, record) is { } token)
                {
                    tokens.Add(token);
                }
                else
                {
                    Log.BadRecord(_logger, LogText.Bound(entry.Name.ToString(), 80));
                }
            }
            var seen = string.Join('\n', entries.OrderBy(e => (string?)e.Name, StringComparer.Ordinal).Select(e => e.Name + "=" + e.Value));
            changed = seen != _lastSeen;
            if (changed)
            {
                _lastSeen = seen;
                Volatile.Write(ref _tokens, tokens);
                Volatile.Write(ref _changed, 1);
            }
        }
        finally
        {
            _loading.Release();
        }
        if (changed)
        {
            Updated?.Invoke();
        }
    }

    private static TokenRecord? Parse(RedisValue value)
    {
        try
        {
            return JsonSerializer.Deserialize((string)value!, TokenJson.Default.TokenRecord);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static StoredToken? ToStored(string name, TokenRecord record)
    {
        if (record.Sha256 is not { Length: 64 } hex || name.Length == 0)
        {
            return null;
        }
        return new StoredToken(name, record.AllowHosts ?? [], record.AllowPorts ?? [], record.MaxSessions, record.CreatedAt, record.RevokedAt)
        {
            Hash = Convert.FromHexString(hex),
            Quota = record.QuotaDaily is null && record.QuotaMonthly is null ? null : new QuotaConfig { Daily = record.QuotaDaily, Monthly = record.QuotaMonthly },
            AllowPrivate = record.AllowPrivate ?? [],
            AllowConnect = record.AllowConnect ?? [],
        };
    }

    /// <summary>Set for <c>warren token</c>'s own store (Tokens/TokenStores.cs): disposing the store closes the connection too.</summary>
    internal bool OwnsConnection { get; set; }

    public void Dispose()
    {
        _disposed = true;
        _cluster.Restored -= OnRestored;
        _catchUp.Dispose();
        if (OwnsConnection)
        {
            _cluster.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }
    }

    /// <summary>A token as kept in Redis (docs/cluster.md, "Redis keys"): the secret's SHA-256 and the grants.</summary>
    internal sealed record TokenRecord
    {
        [JsonPropertyName("sha256")] public string? Sha256 { get; init; }
        [JsonPropertyName("allow_hosts")] public IReadOnlyList<string>? AllowHosts { get; init; }
        [JsonPropertyName("allow_ports")] public IReadOnlyList<int>? AllowPorts { get; init; }
        [JsonPropertyName("allow_private")] public IReadOnlyList<string>? AllowPrivate { get; init; }
        [JsonPropertyName("allow_connect")] public IReadOnlyList<string>? AllowConnect { get; init; }
        [JsonPropertyName("max_sessions")] public int? MaxSessions { get; init; }
        [JsonPropertyName("quota_daily")] public long? QuotaDaily { get; init; }
        [JsonPropertyName("quota_monthly")] public long? QuotaMonthly { get; init; }
        [JsonPropertyName("created_at")] public DateTimeOffset CreatedAt { get; init; }
        [JsonPropertyName("revoked_at")] public DateTimeOffset? RevokedAt { get; init; }
    }

    [JsonSerializable(typeof(TokenRecord))]
    private sealed partial class TokenJson : JsonSerializerContext;

    private static partial class Log
    {
        [LoggerMessage(1710, LogLevel.Warning, "Cluster: tokens could not be read from Redis ({Message}); keeping the last known ones", EventName = "ClusterTokensLoadFailed")]
        public static partial void LoadFailed(ILogger logger, string message);

        [LoggerMessage(1711, LogLevel.Warning, "Cluster: token record {Name} in Redis is malformed and was skipped", EventName = "ClusterTokenMalformed")]
        public static partial void BadRecord(ILogger logger, string name);
    }
}
