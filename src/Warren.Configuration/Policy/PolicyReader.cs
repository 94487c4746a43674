using System.Security.Cryptography;
using System.Text;

namespace Warren.Configuration;

/// <summary>Reads a policy's YAML keys (docs/configuration.md, "Policies") into a <see cref="PolicyConfig"/>, loading the files it names.</summary>
internal static class PolicyReader
{
    /// <summary>The keys of a policy, in agent.yaml <c>services[].policy</c> and in each edge.yaml <c>policies</c> entry.</summary>
    public static readonly string[] Keys =
    [
        "use", "ip", "basic_auth", "api_keys", "jwt", "oidc", "forward_auth", "rate_limit", "request_headers", "response_headers", "strip_prefix", "add_prefix",
        "https_redirect", "cors", "maintenance", "error_pages", "max_request_body_size", "timeout", "max_connections_per_ip", "connection_rate",
    ];

    /// <summary>Null when <paramref name="m"/> holds none of the policy keys.</summary>
    public static PolicyConfig? Read(Mapping m)
    {
        if (!Keys.Any(m.Has))
        {
            return null;
        }

        var defaults = new CorsConfig();
        return new PolicyConfig
        {
            Use = m.StringList("use"),
            Ip = m.Has("ip") ? ReadIp(m.Map("ip", "allow", "deny")) : null,
            BasicAuth = m.Has("basic_auth") ? ReadBasicAuth(m.Map("basic_auth", "realm", "users", "htpasswd_file")) : null,
            ApiKeys = m.Has("api_keys") ? ReadApiKeys(m.Map("api_keys", "header", "query", "keys", "keys_sha256", "keys_file")) : null,
            Jwt = m.Has("jwt") ? ReadJwt(m.Map("jwt", "issuer", "audiences", "metadata_url", "jwks_url", "required_claims", "identity_headers")) : null,
            Oidc = m.Has("oidc") ? ReadOidc(m.Map("oidc", OidcKeys)) : null,
            ForwardAuth = m.Has("forward_auth") ? ReadForwardAuth(m.Map("forward_auth", "url", "copy_headers", "forward_headers", "timeout")) : null,
            RateLimit = m.Has("rate_limit") ? ReadRateLimit(m.Map("rate_limit", "per_ip", "per_service")) : null,
            RequestHeaders = m.Has("request_headers") ? ReadHeaders(m.Map("request_headers", "set", "remove")) : null,
            ResponseHeaders = m.Has("response_headers") ? ReadHeaders(m.Map("response_headers", "set", "remove")) : null,
            StripPrefix = m.OptionalString("strip_prefix", null),
            AddPrefix = m.OptionalString("add_prefix", null),
            HttpsRedirect = m.Bool("https_redirect", false),
            Cors = m.Has("cors") ? ReadCors(m.Map("cors", "origins", "methods", "headers", "expose_headers", "credentials", "max_age"), defaults) : null,
            Maintenance = m.Has("maintenance") ? ReadMaintenance(m.Map("maintenance", "enabled", "page_file")) : null,
            ErrorPages = ReadErrorPages(m.Map("error_pages", "502", "503", "504")),
            MaxRequestBodySize = m.OptionalSize("max_request_body_size"),
            Timeout = m.Has("timeout") ? m.Duration("timeout", TimeSpan.Zero) : null,
            MaxConnectionsPerIp = m.OptionalInt("max_connections_per_ip"),
            ConnectionRate = m.Has("connection_rate") ? ReadRate(m.Map("connection_rate", RateKeys)) : null,
        };
    }

    private static readonly string[] RateKeys = ["requests", "per", "burst"];

    private static IpRulesConfig ReadIp(Mapping m) => new() { Allow = m.StringList("allow"), Deny = m.StringList("deny") };

    private static BasicAuthConfig ReadBasicAuth(Mapping m)
    {
        var users = m.StringList("users").ToList();
        if (m.FileText("htpasswd_file") is { } file)
        {
            users.AddRange(Lines(file));
        }

        return new BasicAuthConfig { Realm = m.String("realm", new BasicAuthConfig().Realm), Users = users };
    }

    private static ApiKeysConfig ReadApiKeys(Mapping m)
    {
        var hashes = m.StringList("keys_sha256").Select(h => h.ToLowerInvariant()).ToList();
        IEnumerable<string> plain = m.StringList("keys");
        if (m.FileText("keys_file") is { } file)
        {
            plain = plain.Concat(Lines(file));
        }

        // Hashed here, so neither the agent's registration nor the edge's memory holds a key.
        hashes.AddRange(plain.Select(k => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(k)))));
        return new ApiKeysConfig { Header = m.OptionalString("header", null), Query = m.OptionalString("query", null), KeysSha256 = hashes };
    }

    private static JwtConfig ReadJwt(Mapping m) => new()
    {
        Issuer = m.String("issuer", ""),
        Audiences = m.StringList("audiences"),
        MetadataUrl = m.OptionalString("metadata_url", null),
        JwksUrl = m.OptionalString("jwks_url", null),
        RequiredClaims = m.StringMap("required_claims"),
        IdentityHeaders = m.StringMap("identity_headers"),
    };

    private static readonly string[] OidcKeys =
    [
        "issuer", "metadata_url", "client_id", "client_secret", "client_secret_file", "scopes", "callback_path", "logout_path", "cookie_domain",
        "session_lifetime", "allowed_emails", "allowed_domains", "allowed_groups", "groups_claim", "identity_headers",
    ];

    private static OidcConfig ReadOidc(Mapping m)
    {
        var defaults = new OidcConfig();
        return new OidcConfig
        {
            Issuer = m.String("issuer", ""),
            MetadataUrl = m.OptionalString("metadata_url", null),
            ClientId = m.String("client_id", ""),
            ClientSecret = m.OptionalString("client_secret", null) ?? m.FileText("client_secret_file")?.Trim(),
            Scopes = m.Has("scopes") ? m.StringList("scopes") : defaults.Scopes,
            CallbackPath = m.String("callback_path", defaults.CallbackPath),
            LogoutPath = m.String("logout_path", defaults.LogoutPath),
            CookieDomain = m.OptionalString("cookie_domain", null),
            SessionLifetime = m.Duration("session_lifetime", defaults.SessionLifetime),
            AllowedEmails = m.StringList("allowed_emails"),
            AllowedDomains = m.StringList("allowed_domains"),
            AllowedGroups = m.StringList("allowed_groups"),
            GroupsClaim = m.String("groups_claim", defaults.GroupsClaim),
            IdentityHeaders = m.StringMap("identity_headers"),
        };
    }

    private static ForwardAuthConfig ReadForwardAuth(Mapping m)
    {
        var defaults = new ForwardAuthConfig();
        return new ForwardAuthConfig
        {
            Url = m.String("url", ""),
            CopyHeaders = m.StringList("copy_headers"),
            ForwardHeaders = m.Has("forward_headers") ? m.StringList("forward_headers") : defaults.ForwardHeaders,
            Timeout = m.Duration("timeout", defaults.Timeout),
        };
    }

    private static RateLimitConfig ReadRateLimit(Mapping m) => new()
    {
        PerIp = m.Has("per_ip") ? ReadRate(m.Map("per_ip", RateKeys)) : null,
        PerService = m.Has("per_service") ? ReadRate(m.Map("per_service", RateKeys)) : null,
    };

    private static RateConfig ReadRate(Mapping m) => new()
    {
        Requests = m.Int("requests", 0),
        Per = m.Duration("per", new RateConfig().Per),
        Burst = m.OptionalInt("burst"),
    };

    private static HeaderRulesConfig ReadHeaders(Mapping m) => new() { Set = m.StringMap("set"), Remove = m.StringList("remove") };

    private static CorsConfig ReadCors(Mapping m, CorsConfig defaults) => new()
    {
        Origins = m.StringList("origins"),
        Methods = m.Has("methods") ? m.StringList("methods") : defaults.Methods,
        Headers = m.StringList("headers"),
        ExposeHeaders = m.StringList("expose_headers"),
        Credentials = m.Bool("credentials", false),
        MaxAge = m.Duration("max_age", defaults.MaxAge),
    };

    private static MaintenanceConfig ReadMaintenance(Mapping m) => new() { Enabled = m.Bool("enabled", true), Page = m.FileText("page_file") };

    private static Dictionary<string, string> ReadErrorPages(Mapping m)
    {
        var pages = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var status in new[] { "502", "503", "504" })
        {
            if (m.FileText(status) is { } page)
            {
                pages[status] = page;
            }
        }

        return pages;
    }

    /// <summary>Non-empty lines that are not # comments (htpasswd and key files).</summary>
    private static IEnumerable<string> Lines(string text) =>
        text.Split('\n').Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith('#'));
}
