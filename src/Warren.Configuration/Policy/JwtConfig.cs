namespace Warren.Configuration;

/// <summary>
/// YAML key <c>jwt</c>: <c>Authorization: Bearer</c> JSON Web Tokens signed by an issuer's keys (JWKS, fetched and
/// refreshed by the ASP.NET Core JwtBearer handler), with the issuer, audience, lifetime and required claims checked.
/// </summary>
public sealed record JwtConfig
{
    /// <summary>YAML key <c>issuer</c>: the <c>iss</c> every token must carry; also where discovery starts.</summary>
    public string Issuer { get; init; } = "";

    /// <summary>YAML key <c>audiences</c>: at least one; a token's <c>aud</c> must name one of them.</summary>
    public IReadOnlyList<string> Audiences { get; init; } = [];

    /// <summary>YAML key <c>metadata_url</c>: the discovery document; default <c>{issuer}/.well-known/openid-configuration</c>.</summary>
    public string? MetadataUrl { get; init; }

    /// <summary>YAML key <c>jwks_url</c>: the signing keys directly, without discovery (instead of <see cref="MetadataUrl"/>).</summary>
    public string? JwksUrl { get; init; }

    /// <summary>YAML key <c>required_claims</c>: claim type to a value the token must hold (one of the claim's values); else 403.</summary>
    public IReadOnlyDictionary<string, string> RequiredClaims { get; init; } = new Dictionary<string, string>();

    /// <summary>YAML key <c>identity_headers</c>: header name to claim type, passed to the service; clients' copies are removed.</summary>
    public IReadOnlyDictionary<string, string> IdentityHeaders { get; init; } = new Dictionary<string, string>();
}
