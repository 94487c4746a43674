using System.Text.Json.Serialization;
using Warren.Configuration;
using Warren.Edge.Acme;
using Warren.Edge.Cluster;

namespace Warren.Edge.Admin;

// The admin API's bodies as named types with their JSON names, serialized through source-generated code
// (AdminJson): no reflection, so the answers are the same in a trimmed or ahead-of-time compiled edge.

/// <summary>One agent session, as /api/sessions and /api/status show it.</summary>
internal sealed record SessionView(
    [property: JsonPropertyName("id")] long Id,
    [property: JsonPropertyName("agent")] string Agent,
    [property: JsonPropertyName("token")] string Token,
    [property: JsonPropertyName("remote")] string? Remote,
    [property: JsonPropertyName("connected_at")] DateTimeOffset ConnectedAt,
    [property: JsonPropertyName("rtt_ms")] double RttMs,
    [property: JsonPropertyName("streams")] int Streams,
    [property: JsonPropertyName("services")] IEnumerable<string> Services,
    [property: JsonPropertyName("link")] string Link);

/// <summary>One service with its operator state and what is open on it, as /api/services shows it.</summary>
internal sealed record ServiceView(
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("owner")] string Owner,
    [property: JsonPropertyName("kind")] string Kind,
    [property: JsonPropertyName("hostnames")] IReadOnlyList<string> Hostnames,
    [property: JsonPropertyName("path_prefix")] string? PathPrefix,
    [property: JsonPropertyName("port")] int? Port,
    [property: JsonPropertyName("private")] bool Private,
    [property: JsonPropertyName("sessions")] IEnumerable<long> Sessions,
    [property: JsonPropertyName("grace_waiting")] int GraceWaiting,
    [property: JsonPropertyName("state")] string State,
    [property: JsonPropertyName("since")] DateTimeOffset? Since,
    [property: JsonPropertyName("retry_after")] long? RetryAfter,
    [property: JsonPropertyName("message")] string? Message,
    [property: JsonPropertyName("in_flight")] long InFlight);

/// <summary>One agent token, from edge.yaml or the database, as /api/tokens lists it (never its secret).</summary>
internal sealed record TokenView(
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("source")] string Source,
    [property: JsonPropertyName("state")] string State,
    [property: JsonPropertyName("allow_hosts")] IReadOnlyList<string> AllowHosts,
    [property: JsonPropertyName("allow_ports")] IReadOnlyList<int> AllowPorts,
    [property: JsonPropertyName("allow_private")] IReadOnlyList<string> AllowPrivate,
    [property: JsonPropertyName("allow_connect")] IReadOnlyList<string> AllowConnect,
    [property: JsonPropertyName("max_sessions")] int? MaxSessions,
    [property: JsonPropertyName("quota_daily")] long? QuotaDaily,
    [property: JsonPropertyName("quota_monthly")] long? QuotaMonthly,
    [property: JsonPropertyName("created_at")] DateTimeOffset? CreatedAt,
    [property: JsonPropertyName("revoked_at")] DateTimeOffset? RevokedAt);

/// <summary>A token just created: the only answer that carries its secret.</summary>
internal sealed record TokenCreated(
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("token")] string Token);

/// <summary>One ban, as /api/bans lists it.</summary>
internal sealed record BanView(
    [property: JsonPropertyName("address")] string Address,
    [property: JsonPropertyName("reason")] string Reason,
    [property: JsonPropertyName("banned_at")] DateTimeOffset BannedAt,
    [property: JsonPropertyName("until")] DateTimeOffset Until,
    [property: JsonPropertyName("remaining_seconds")] long RemainingSeconds);

/// <summary>/api/status: what `warren status` shows.</summary>
internal sealed record EdgeStatusView(
    [property: JsonPropertyName("role")] string Role,
    [property: JsonPropertyName("ready")] bool Ready,
    [property: JsonPropertyName("auth_failures")] long AuthFailures,
    [property: JsonPropertyName("sessions")] IEnumerable<SessionView> Sessions,
    [property: JsonPropertyName("services")] IEnumerable<ServiceStatusView> Services,
    [property: JsonPropertyName("certificates")] IEnumerable<CertificateStatus>? Certificates,
    [property: JsonPropertyName("cluster")] ClusterStatus? Cluster);

/// <summary>One service's traffic in /api/status.</summary>
internal sealed record ServiceStatusView(
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("owner")] string Owner,
    [property: JsonPropertyName("kind")] string Kind,
    [property: JsonPropertyName("hostnames")] IReadOnlyList<string> Hostnames,
    [property: JsonPropertyName("port")] int? Port,
    [property: JsonPropertyName("sessions")] int Sessions,
    [property: JsonPropertyName("requests")] long Requests,
    [property: JsonPropertyName("errors")] long Errors,
    [property: JsonPropertyName("request_rate")] double RequestRate,
    [property: JsonPropertyName("error_rate")] double ErrorRate);

[JsonSerializable(typeof(IEnumerable<SessionView>))]
[JsonSerializable(typeof(IEnumerable<ServiceView>))]
[JsonSerializable(typeof(ServiceView))]
[JsonSerializable(typeof(IEnumerable<TokenView>))]
[JsonSerializable(typeof(TokenCreated))]
[JsonSerializable(typeof(AdminApi.TokenCreateRequest))]
[JsonSerializable(typeof(IEnumerable<BanView>))]
[JsonSerializable(typeof(BanView))]
[JsonSerializable(typeof(BanEndpoints.BanRequest))]
[JsonSerializable(typeof(ServiceControlApi.HoldRequest))]
[JsonSerializable(typeof(EdgeStatusView))]
[JsonSerializable(typeof(ClusterStatus))]
[JsonSerializable(typeof(AdminError))]
[JsonSerializable(typeof(ReloadResult))]
internal sealed partial class AdminJson : JsonSerializerContext;
