using System.Text.Json.Serialization;

namespace Warren.Edge.Acme;

/// <summary>One certificate's state as /api/status and `warren status` show it; IssuedAt (when the current one was issued) stays out of the JSON, as it always has.</summary>
internal sealed record CertificateStatus(
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("source")] string Source,
    [property: JsonPropertyName("state")] string State,
    [property: JsonPropertyName("not_after")] DateTimeOffset? NotAfter,
    [property: JsonPropertyName("renew_at")] DateTimeOffset? RenewAt,
    [property: JsonPropertyName("next_attempt")] DateTimeOffset? NextAttempt,
    [property: JsonPropertyName("failures")] int Failures,
    [property: JsonPropertyName("last_error")] string? LastError,
    [property: JsonPropertyName("last_error_at")] DateTimeOffset? LastErrorAt,
    [property: JsonIgnore] DateTimeOffset? IssuedAt);
