using System.Text.Json.Serialization;

namespace Warren.Edge.Cluster;

/// <summary>The cluster seen from one edge (docs/cluster.md, "Status"): in /api/status as <c>cluster</c>, and GET /api/cluster.</summary>
internal sealed record ClusterStatus(
    [property: JsonPropertyName("edge")] string Edge,
    [property: JsonPropertyName("redis")] string Redis,
    [property: JsonPropertyName("edges")] IReadOnlyList<ClusterEdgeStatus> Edges);

/// <summary>One edge of the cluster as its last heartbeat told (Cluster/ClusterRegistry.cs).</summary>
internal sealed record ClusterEdgeStatus(
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("advertise")] string Advertise,
    [property: JsonPropertyName("sessions")] int Sessions,
    [property: JsonPropertyName("services")] IReadOnlyList<string> Services,
    [property: JsonPropertyName("heartbeat_at")] DateTimeOffset HeartbeatAt,
    [property: JsonPropertyName("self")] bool Self);
