using System.Text.Json.Serialization;

namespace Warren.Edge.Acme;

/// <summary>What an order is for (RFC 8555 §7.1.3, §9.7.7): always a DNS name here; "*.example.com" for a wildcard.</summary>
internal sealed record AcmeIdentifier
{
    [JsonPropertyName("type")]
    public string Type { get; init; } = "dns";

    [JsonPropertyName("value")]
    public string Value { get; init; } = "";
}
