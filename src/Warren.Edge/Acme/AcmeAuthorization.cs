using System.Text.Json.Serialization;

namespace Warren.Edge.Acme;

/// <summary>An authorization object (RFC 8555 §7.1.4): one identifier and the challenges that can prove it.</summary>
internal sealed record AcmeAuthorization
{
    /// <summary>pending, valid, invalid, deactivated, expired or revoked (RFC 8555 §7.1.6).</summary>
    [JsonPropertyName("status")]
    public string Status { get; init; } = "";

    [JsonPropertyName("identifier")]
    public AcmeIdentifier Identifier { get; init; } = new();

    [JsonPropertyName("challenges")]
    public IReadOnlyList<AcmeChallenge> Challenges { get; init; } = [];

    /// <summary>True when the order asked for "*.name": the identifier then holds "name" (RFC 8555 §7.1.4).</summary>
    [JsonPropertyName("wildcard")]
    public bool Wildcard { get; init; }
}

/// <summary>A challenge object (RFC 8555 §7.1.5, §8).</summary>
internal sealed record AcmeChallenge
{
    [JsonPropertyName("type")]
    public string Type { get; init; } = "";

    [JsonPropertyName("url")]
    public Uri? Url { get; init; }

    [JsonPropertyName("status")]
    public string Status { get; init; } = "";

    [JsonPropertyName("token")]
    public string Token { get; init; } = "";

    [JsonPropertyName("error")]
    public AcmeProblem? Error { get; init; }
}
