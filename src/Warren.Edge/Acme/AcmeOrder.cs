using System.Text.Json.Serialization;

namespace Warren.Edge.Acme;

/// <summary>An order object (RFC 8555 §7.1.3); <see cref="Url"/> is its Location, not part of the JSON.</summary>
internal sealed record AcmeOrder
{
    [JsonIgnore]
    public Uri? Url { get; init; }

    /// <summary>pending, ready, processing, valid or invalid (RFC 8555 §7.1.6).</summary>
    [JsonPropertyName("status")]
    public string Status { get; init; } = "";

    [JsonPropertyName("identifiers")]
    public IReadOnlyList<AcmeIdentifier> Identifiers { get; init; } = [];

    [JsonPropertyName("authorizations")]
    public IReadOnlyList<Uri> Authorizations { get; init; } = [];

    [JsonPropertyName("finalize")]
    public Uri? Finalize { get; init; }

    [JsonPropertyName("certificate")]
    public Uri? Certificate { get; init; }

    [JsonPropertyName("error")]
    public AcmeProblem? Error { get; init; }
}
