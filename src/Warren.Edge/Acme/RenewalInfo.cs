using System.Text.Json.Serialization;

namespace Warren.Edge.Acme;

/// <summary>ACME Renewal Information (RFC 9773 §4.2): the window the CA suggests renewing in.</summary>
internal sealed record RenewalInfo
{
    [JsonPropertyName("suggestedWindow")]
    public RenewalWindow? SuggestedWindow { get; init; }

    [JsonPropertyName("explanationURL")]
    public string? ExplanationUrl { get; init; }

    /// <summary>When to ask again (the response's Retry-After, RFC 9773 §4.3); not part of the JSON.</summary>
    [JsonIgnore]
    public TimeSpan? RetryAfter { get; init; }
}

internal sealed record RenewalWindow
{
    [JsonPropertyName("start")]
    public DateTimeOffset Start { get; init; }

    [JsonPropertyName("end")]
    public DateTimeOffset End { get; init; }
}
