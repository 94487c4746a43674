using System.Text.Json;
using System.Text.Json.Serialization;

namespace Warren.Protocol.Tunnel;

/// <summary>
/// One message on the control stream (docs/protocol.md §10.2): a 4-byte big-endian length, then UTF-8 JSON.
/// A single shape with a <see cref="Type"/> discriminator keeps the wire format easy to read and extend.
/// </summary>
public sealed record ControlMessage
{
    public const string Auth = "auth";
    public const string AuthResult = "auth_result";
    public const string Register = "register";
    public const string RegisterResult = "register_result";

    /// <summary>
    /// auth_result's <see cref="Error"/> when the token is unknown or revoked (docs/protocol.md §10.2): the agent treats
    /// it as lasting (minutes between tries, one session trying), since every failed login counts against its address.
    /// </summary>
    public const string InvalidTokenError = "invalid token";

    [JsonPropertyName("type")] public string Type { get; init; } = "";

    // auth (agent -> edge)
    [JsonPropertyName("token")] public string? Token { get; init; }
    [JsonPropertyName("agent")] public string? Agent { get; init; }
    [JsonPropertyName("version")] public string? Version { get; init; }

    /// <summary>
    /// auth from a <c>warren connect</c> client: the private service it reaches (docs/protocol.md §10.4); the edge's
    /// auth_result echoes it when it took the session as a connect session. Absent for an agent.
    /// </summary>
    [JsonPropertyName("connect")] public string? Connect { get; init; }

    // auth_result (edge -> agent)
    [JsonPropertyName("ok")] public bool? Ok { get; init; }
    [JsonPropertyName("error")] public string? Error { get; init; }
    [JsonPropertyName("session")] public string? Session { get; init; }

    // register (agent -> edge) and register_result (edge -> agent)
    [JsonPropertyName("services")] public IReadOnlyList<ServiceRegistration>? Services { get; init; }
    [JsonPropertyName("results")] public IReadOnlyList<RegistrationResult>? Results { get; init; }
}

/// <summary>A service the agent offers. The target stays on the agent; the edge never learns it.</summary>
public sealed record ServiceRegistration
{
    [JsonPropertyName("name")] public string Name { get; init; } = "";
    [JsonPropertyName("kind")] public string Kind { get; init; } = "http";
    [JsonPropertyName("hostnames")] public IReadOnlyList<string> Hostnames { get; init; } = [];
    [JsonPropertyName("path_prefix")] public string? PathPrefix { get; init; }
    [JsonPropertyName("port")] public int? Port { get; init; }
    [JsonPropertyName("max_concurrency")] public int MaxConcurrency { get; init; }
    [JsonPropertyName("response_timeout_ms")] public long? ResponseTimeoutMs { get; init; }
    [JsonPropertyName("max_request_body_size")] public long? MaxRequestBodySize { get; init; }

    /// <summary>
    /// A private service (docs/protocol.md §10.4): kind "tcp" with no port and no hostnames; the edge publishes it on
    /// no listener and reaches it only for <c>warren connect</c> clients granted it. Absent or false: public.
    /// </summary>
    [JsonPropertyName("private")] public bool? Private { get; init; }

    /// <summary>
    /// The service's access policy (docs/protocol.md §10.2, docs/policy.md), as the agent.yaml keys in JSON; absent
    /// for none. This layer does not read it: the edge validates it as it validates edge.yaml.
    /// </summary>
    [JsonPropertyName("policy")] public JsonElement? Policy { get; init; }
}

/// <summary>The edge's answer for one registration: refused ones carry the reason.</summary>
public sealed record RegistrationResult
{
    [JsonPropertyName("name")] public string Name { get; init; } = "";
    [JsonPropertyName("ok")] public bool Ok { get; init; }
    [JsonPropertyName("error")] public string? Error { get; init; }

    /// <summary>
    /// True when the edge enforces the service's policy. Edges older than policies leave it out and would publish the
    /// service open, so an agent that sent a policy and does not get this back withdraws the service.
    /// </summary>
    [JsonPropertyName("policy_enforced")] public bool? PolicyEnforced { get; init; }
}

[JsonSourceGenerationOptions(DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(ControlMessage))]
internal sealed partial class ControlJsonContext : JsonSerializerContext;
