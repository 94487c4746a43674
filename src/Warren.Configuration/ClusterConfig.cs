namespace Warren.Configuration;

/// <summary>
/// edge.yaml's <c>cluster</c> (docs/cluster.md): this edge is one of several sharing state through Redis. Absent:
/// one edge on its own, exactly as without clustering (tokens, bans and counts in warren.db).
/// </summary>
public sealed record ClusterConfig
{
    /// <summary>
    /// YAML key <c>redis</c>: a StackExchange.Redis configuration string, e.g. <c>10.0.0.5:6379,password=...</c> or,
    /// with Sentinel, <c>sentinel1:26379,sentinel2:26379,serviceName=warren</c>. Required.
    /// </summary>
    public string Redis { get; init; } = "";

    /// <summary>YAML key <c>name</c>: this edge's name in the cluster, unique among its edges (letters, digits, '-', '_', '.'; at most 64). Required.</summary>
    public string Name { get; init; } = "";

    /// <summary>
    /// YAML key <c>secret</c> (typically <c>${WARREN_CLUSTER_SECRET}</c>) or <c>secret_file</c>: what edges prove to
    /// each other on the edge-to-edge listener; the same on every edge, at least 32 characters. Required.
    /// </summary>
    public string Secret { get; init; } = "";

    /// <summary>
    /// YAML key <c>listen</c>: "host:port" of the edge-to-edge listener (TLS, the agent link's certificate); other edges
    /// forward requests for services whose sessions are here to it. Default 0.0.0.0:7444.
    /// </summary>
    public string Listen { get; init; } = "0.0.0.0:7444";

    /// <summary>
    /// YAML key <c>advertise</c>: "host:port" other edges dial to reach <see cref="Listen"/>; default the listen
    /// address (with the port it was bound to), which must then not be a wildcard.
    /// </summary>
    public string? Advertise { get; init; }

    /// <summary>YAML key <c>key_prefix</c>: prefix of every Redis key and channel, so clusters can share a Redis. Default "warren:".</summary>
    public string KeyPrefix { get; init; } = "warren:";

    /// <summary>
    /// YAML key <c>lease</c>: how long a hostname or port claim and an edge's heartbeat live in Redis without renewal;
    /// renewed every third of it. Default 30s; 3s to 10m.
    /// </summary>
    public TimeSpan Lease { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// YAML key <c>sync_interval</c>: how often the edge exchanges its counts (policy rate limits, the abuse shield's
    /// strikes, token quotas) with Redis and takes in the other edges' (docs/cluster.md, "Shared counts"). It bounds
    /// how far a limit can be overshot across the cluster. Default 1s; 100ms to 10s.
    /// </summary>
    public TimeSpan SyncInterval { get; init; } = TimeSpan.FromSeconds(1);
}
