using System.Text.Json.Serialization;

namespace Warren.Edge.Acme;

/// <summary>The CA's directory (RFC 8555 §7.1.1): every other URL comes from here, never from a guess.</summary>
internal sealed record AcmeDirectory
{
    [JsonPropertyName("newNonce")]
    public Uri? NewNonce { get; init; }

    [JsonPropertyName("newAccount")]
    public Uri? NewAccount { get; init; }

    [JsonPropertyName("newOrder")]
    public Uri? NewOrder { get; init; }

    /// <summary>ACME Renewal Information (RFC 9773); null when the CA does not offer it.</summary>
    [JsonPropertyName("renewalInfo")]
    public Uri? RenewalInfo { get; init; }

    [JsonPropertyName("meta")]
    public AcmeDirectoryMeta? Meta { get; init; }
}

/// <summary>The directory's meta object (RFC 8555 §7.1.1).</summary>
internal sealed record AcmeDirectoryMeta
{
    [JsonPropertyName("termsOfService")]
    public string? TermsOfService { get; init; }

    [JsonPropertyName("externalAccountRequired")]
    public bool ExternalAccountRequired { get; init; }
}
