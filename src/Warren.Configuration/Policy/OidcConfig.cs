using System.Text;

namespace Warren.Configuration;

/// <summary>
/// YAML key <c>oidc</c>: an OpenID Connect login in front of the service (docs/policy.md, "OpenID Connect login").
/// A browser without a session is sent to the provider (authorization code flow with PKCE); the edge keeps the
/// signed-in user in an encrypted cookie, checks the allow-lists on every request and passes the user's identity
/// to the service in <see cref="IdentityHeaders"/>. YAML also takes <c>client_secret_file</c>.
/// </summary>
public sealed record OidcConfig
{
    /// <summary>YAML key <c>issuer</c>: the provider's issuer URL; discovery is read from <c>{issuer}/.well-known/openid-configuration</c>.</summary>
    public string Issuer { get; init; } = "";

    /// <summary>YAML key <c>metadata_url</c>: the discovery document, when it is not under the issuer.</summary>
    public string? MetadataUrl { get; init; }

    /// <summary>YAML key <c>client_id</c>: the client registered at the provider for this edge.</summary>
    public string ClientId { get; init; } = "";

    /// <summary>YAML key <c>client_secret</c> (or <c>client_secret_file</c>): none for a public client (PKCE alone).</summary>
    public string? ClientSecret { get; init; }

    /// <summary>YAML key <c>scopes</c>: asked of the provider; <c>openid</c> is always asked.</summary>
    public IReadOnlyList<string> Scopes { get; init; } = ["openid", "profile", "email"];

    /// <summary>YAML key <c>callback_path</c>: where the provider sends the browser back (register https://HOST{path} at the provider).</summary>
    public string CallbackPath { get; init; } = "/_warren/oidc/callback";

    /// <summary>YAML key <c>logout_path</c>: a request here ends the session (and the provider's, when it offers logout).</summary>
    public string LogoutPath { get; init; } = "/_warren/oidc/logout";

    /// <summary>YAML key <c>cookie_domain</c>: a parent domain (example.com) to share the session across its hosts; default: each hostname alone.</summary>
    public string? CookieDomain { get; init; }

    /// <summary>YAML key <c>session_lifetime</c>: how long a session lasts without a request (sliding). Default 12 h.</summary>
    public TimeSpan SessionLifetime { get; init; } = TimeSpan.FromHours(12);

    /// <summary>YAML key <c>allowed_emails</c>: users let in by address (case-insensitive; a provider's unverified address never matches).</summary>
    public IReadOnlyList<string> AllowedEmails { get; init; } = [];

    /// <summary>YAML key <c>allowed_domains</c>: users let in by the domain of their verified address ("example.com").</summary>
    public IReadOnlyList<string> AllowedDomains { get; init; } = [];

    /// <summary>YAML key <c>allowed_groups</c>: users let in by a value of <see cref="GroupsClaim"/>.</summary>
    public IReadOnlyList<string> AllowedGroups { get; init; } = [];

    /// <summary>YAML key <c>groups_claim</c>: the claim that lists the user's groups. Default <c>groups</c>.</summary>
    public string GroupsClaim { get; init; } = "groups";

    /// <summary>YAML key <c>identity_headers</c>: header name to claim type, passed to the service (several values joined by ","); clients' copies are removed.</summary>
    public IReadOnlyDictionary<string, string> IdentityHeaders { get; init; } = new Dictionary<string, string>();

    private bool PrintMembers(StringBuilder builder)
    {
        builder.Append("Issuer = ").Append(Issuer).Append(", ClientId = ").Append(ClientId)
            .Append(", ClientSecret = ").Append(ClientSecret is null ? "(none)" : "(not shown)")
            .Append(", CookieDomain = ").Append(CookieDomain);
        return true;
    }
}
