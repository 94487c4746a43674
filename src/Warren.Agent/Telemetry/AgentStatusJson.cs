using System.Text.Json.Serialization;
using Warren.Configuration;

namespace Warren.Agent.Telemetry;

// The agent's /api/status (read by `warren status`) as named types, serialized through source-generated code
// (AgentStatusJson): no reflection, as the edge's admin API (Warren.Edge/Admin/AdminJson.cs).

internal sealed record AgentStatusView(
    [property: JsonPropertyName("role")] string Role,
    [property: JsonPropertyName("agent")] string Agent,
    [property: JsonPropertyName("edge")] string Edge,
    [property: JsonPropertyName("ready")] bool Ready,
    [property: JsonPropertyName("reconnects")] int Reconnects,
    [property: JsonPropertyName("sessions")] IEnumerable<AgentSessionView> Sessions,
    [property: JsonPropertyName("services")] IEnumerable<AgentServiceView> Services);

internal sealed record AgentSessionView(
    [property: JsonPropertyName("id")] int Id,
    [property: JsonPropertyName("agent")] string Agent,
    [property: JsonPropertyName("remote")] string Remote,
    [property: JsonPropertyName("rtt_ms")] double RttMs,
    [property: JsonPropertyName("streams")] int Streams,
    [property: JsonPropertyName("services")] IEnumerable<string> Services);

internal sealed record AgentServiceView(
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("kind")] string Kind,
    [property: JsonPropertyName("hostnames")] IReadOnlyList<string> Hostnames,
    [property: JsonPropertyName("port")] int? Port,
    [property: JsonPropertyName("target")] string Target,
    [property: JsonPropertyName("in_flight")] int InFlight,
    [property: JsonPropertyName("sessions")] int Sessions);

[JsonSerializable(typeof(AgentStatusView))]
[JsonSerializable(typeof(ReloadResult))]
internal sealed partial class AgentStatusJson : JsonSerializerContext;
