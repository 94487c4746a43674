using Microsoft.Extensions.Logging;
using StackExchange.Redis;
using Warren.Configuration;

namespace Warren.Edge.Cluster;

/// <summary>
/// The edge's one connection to the cluster's Redis (docs/cluster.md): a StackExchange.Redis multiplexer that keeps
/// reconnecting on its own (AbortOnConnectFail off, so an edge starts and serves while Redis is down), the key prefix,
/// and the connection's ups and downs in the log. Nothing on the request path waits on it: each user of it keeps a
/// local copy (tokens, claims, the registry) and only refreshes that copy from here.
/// </summary>
internal sealed partial class ClusterConnection : IAsyncDisposable
{
    private readonly ConnectionMultiplexer _redis;
    private readonly ILogger _logger;

    private ClusterConnection(ConnectionMultiplexer redis, ClusterConfig config, ILogger logger)
    {
        _redis = redis;
        _logger = logger;
        Config = config;
        redis.ConnectionFailed += (_, e) => Log.Lost(_logger, e.EndPoint?.ToString() ?? "?", e.FailureType.ToString(), e.Exception?.Message ?? "");
        redis.ConnectionRestored += (_, e) =>
        {
            Log.Restored(_logger, e.EndPoint?.ToString() ?? "?");
            Restored?.Invoke();
        };
    }

    public ClusterConfig Config { get; }

    /// <summary>This edge's name in the cluster (cluster.name).</summary>
    public string EdgeName => Config.Name;

    public bool IsConnected => _redis.IsConnected;

    public IDatabase Database => _redis.GetDatabase();

    public ISubscriber Subscriber => _redis.GetSubscriber();

    /// <summary>Raised when Redis is reachable again after a loss: each copy catches up (docs/cluster.md, "Redis unavailable").</summary>
    public event Action? Restored;

    /// <summary>A key under the cluster's prefix (cluster.key_prefix).</summary>
    public RedisKey Key(string name) => Config.KeyPrefix + name;

    /// <summary>A pub/sub channel under the cluster's prefix.</summary>
    public RedisChannel Channel(string name) => RedisChannel.Literal(Config.KeyPrefix + name);

    /// <summary>
    /// Connects, or starts trying to: with Redis down the edge still starts (with what it knows: edge.yaml's tokens),
    /// and the multiplexer connects when Redis comes up.
    /// </summary>
    public static async Task<ClusterConnection> ConnectAsync(ClusterConfig config, ILogger logger)
    {
        var options = ConfigurationOptions.Parse(config.Redis);
        options.AbortOnConnectFail = false;
        options.ClientName = "warren-edge-" + config.Name;
        // Short timeouts: a Redis that does not answer must not hold a registration or a refresh for long; what
        // needs Redis then waits for the next try (docs/cluster.md, "Redis unavailable").
        options.ConnectTimeout = Math.Min(options.ConnectTimeout, 5000);
        options.SyncTimeout = Math.Min(options.SyncTimeout, 5000);
        options.AsyncTimeout = Math.Min(options.AsyncTimeout, 5000);
        options.ReconnectRetryPolicy = new LinearRetry(1000);
        var redis = await ConnectionMultiplexer.ConnectAsync(options).ConfigureAwait(false);
        var connection = new ClusterConnection(redis, config, logger);
        if (redis.IsConnected)
        {
            Log.Connected(logger, config.Name, string.Join(", ", options.EndPoints.Select(e => e.ToString())));
        }
        else
        {
            Log.NotYet(logger, config.Name, string.Join(", ", options.EndPoints.Select(e => e.ToString())));
        }
        return connection;
    }

    public async ValueTask DisposeAsync()
    {
        await _redis.CloseAsync(allowCommandsToComplete: false).ConfigureAwait(false);
        await _redis.DisposeAsync().ConfigureAwait(false);
    }

    private static partial class Log
    {
        [LoggerMessage(1701, LogLevel.Information, "Cluster: edge {Edge} connected to Redis at {EndPoints}", EventName = "ClusterRedisConnected")]
        public static partial void Connected(ILogger logger, string edge, string endPoints);

        [LoggerMessage(1702, LogLevel.Warning, "Cluster: edge {Edge} cannot reach Redis at {EndPoints} yet; serving with what it knows, new hostname and port claims refused until it can", EventName = "ClusterRedisNotYet")]
        public static partial void NotYet(ILogger logger, string edge, string endPoints);

        [LoggerMessage(1703, LogLevel.Warning, "Cluster: lost Redis at {EndPoint} ({Failure}: {Message}); serving with the last known state, new claims refused until it returns", EventName = "ClusterRedisLost")]
        public static partial void Lost(ILogger logger, string endPoint, string failure, string message);

        [LoggerMessage(1704, LogLevel.Information, "Cluster: Redis at {EndPoint} is back; catching up", EventName = "ClusterRedisRestored")]
        public static partial void Restored(ILogger logger, string endPoint);
    }
}
