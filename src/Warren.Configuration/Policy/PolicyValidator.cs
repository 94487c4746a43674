using System.Globalization;
using System.Text.RegularExpressions;

namespace Warren.Configuration;

/// <summary>
/// The rules of a policy, the same for agent.yaml, edge.yaml, configs built in code and a policy an agent sends in
/// its registration (the edge does not trust the agent's own checks). Messages never repeat a secret.
/// </summary>
public static partial class PolicyValidator
{
    /// <summary>Largest page (maintenance, error page) a policy may carry.</summary>
    public const int MaxPageSize = 256 * 1024;

    /// <summary>Headers a rule may not set or remove: they frame the message or route it.</summary>
    private static readonly HashSet<string> Reserved = new(StringComparer.OrdinalIgnoreCase)
    {
        "host", "content-length", "transfer-encoding", "connection", "upgrade", "te", "trailer", "keep-alive", "proxy-connection",
    };

    /// <summary>The kind of service <paramref name="policy"/> can apply to, from the keys it sets.</summary>
    public static PolicyKind KindOf(PolicyConfig policy)
    {
        ArgumentNullException.ThrowIfNull(policy);
        var tcp = policy.MaxConnectionsPerIp is not null || policy.ConnectionRate is not null;
        var http = policy.BasicAuth is not null || policy.ApiKeys is not null || policy.Jwt is not null || policy.Oidc is not null || policy.ForwardAuth is not null || policy.RateLimit is not null
            || policy.RequestHeaders is not null || policy.ResponseHeaders is not null || policy.StripPrefix is not null || policy.AddPrefix is not null
            || policy.HttpsRedirect || policy.Cors is not null || policy.Maintenance is not null || policy.ErrorPages.Count > 0
            || policy.MaxRequestBodySize is not null || policy.Timeout is not null;
        return http ? PolicyKind.Http : tcp ? PolicyKind.Tcp : PolicyKind.Any;
    }

    /// <summary>Every problem of <paramref name="policy"/> as (path, message), for a service of <paramref name="kind"/> (Any: either).</summary>
    public static IReadOnlyList<(string Path, string Message)> Check(PolicyConfig policy, string path, PolicyKind kind, bool allowUse)
    {
        ArgumentNullException.ThrowIfNull(policy);
        var d = new Diagnostics(null);
        Check(d, path, policy, kind, allowUse);
        return [.. d.Errors.Select(e => (e.Path, e.Message))];
    }

    internal static void Check(Diagnostics d, string path, PolicyConfig policy, PolicyKind kind, bool allowUse)
    {
        if (KindOf(policy) is var own && own != PolicyKind.Any && kind != PolicyKind.Any && own != kind)
        {
            d.Report(path, own == PolicyKind.Http
                ? "sets HTTP rules (auth, rate_limit, headers, pages, ...) on a TCP service; a TCP service takes ip, max_connections_per_ip and connection_rate"
                : "sets TCP rules (max_connections_per_ip, connection_rate) on an HTTP service; use rate_limit for HTTP");
        }

        if (policy.KindMixed())
        {
            d.Report(path, "mixes HTTP rules with TCP rules (max_connections_per_ip, connection_rate); a policy is for one kind of service");
        }

        for (var i = 0; i < policy.Use.Count; i++)
        {
            if (!allowUse)
            {
                d.Report(Diagnostics.Child(path, "use"), "only an agent's service policy can use edge policies; an edge policy applies by its match");
                break;
            }

            if (!Name().IsMatch(policy.Use[i] ?? ""))
            {
                d.Report(Diagnostics.Item(Diagnostics.Child(path, "use"), i), $"'{policy.Use[i]}' is not a policy name (1 to 63 of a-z, 0-9, '-', '_', '.')");
            }
        }

        if (policy.Ip is { } ip)
        {
            CheckNetworks(d, Diagnostics.Child(path, "ip.allow"), ip.Allow);
            CheckNetworks(d, Diagnostics.Child(path, "ip.deny"), ip.Deny);
            if (ip.Allow.Count == 0 && ip.Deny.Count == 0)
            {
                d.Report(Diagnostics.Child(path, "ip"), "needs allow or deny (a list of addresses or CIDR ranges)");
            }
        }

        if (policy.BasicAuth is { } basic)
        {
            CheckBasicAuth(d, Diagnostics.Child(path, "basic_auth"), basic);
        }

        if (policy.ApiKeys is { } keys)
        {
            CheckApiKeys(d, Diagnostics.Child(path, "api_keys"), keys);
        }

        if (policy.Jwt is { } jwt)
        {
            CheckJwt(d, Diagnostics.Child(path, "jwt"), jwt);
        }

        if (policy.ForwardAuth is { } forward)
        {
            CheckForwardAuth(d, Diagnostics.Child(path, "forward_auth"), forward);
        }

        if (policy.Oidc is { } oidc)
        {
            CheckOidc(d, Diagnostics.Child(path, "oidc"), oidc);
            if (policy.ForwardAuth is not null)
            {
                d.Report(Diagnostics.Child(path, "oidc"), "cannot be combined with forward_auth in one policy: both answer the browser with their own login; put them in separate policies (each layer applies)");
            }

            if (allowUse && oidc.CookieDomain is not null)
            {
                // A session cookie on a parent domain reaches every service under it, other agents' too: only the
                // operator may share sessions that way (docs/security.md, "Policies").
                d.Report(Diagnostics.Child(Diagnostics.Child(path, "oidc"), "cookie_domain"), "only an edge.yaml policy can share a session across a parent domain; an agent's login keeps its cookie per hostname");
            }
        }

        if (policy.RateLimit is { } rate)
        {
            if (rate.PerIp is null && rate.PerService is null)
            {
                d.Report(Diagnostics.Child(path, "rate_limit"), "needs per_ip or per_service (requests and per)");
            }

            CheckRate(d, Diagnostics.Child(path, "rate_limit.per_ip"), rate.PerIp);
            CheckRate(d, Diagnostics.Child(path, "rate_limit.per_service"), rate.PerService);
        }

        CheckRate(d, Diagnostics.Child(path, "connection_rate"), policy.ConnectionRate);
        CheckHeaders(d, Diagnostics.Child(path, "request_headers"), policy.RequestHeaders);
        CheckHeaders(d, Diagnostics.Child(path, "response_headers"), policy.ResponseHeaders);
        CheckPrefix(d, Diagnostics.Child(path, "strip_prefix"), policy.StripPrefix);
        CheckPrefix(d, Diagnostics.Child(path, "add_prefix"), policy.AddPrefix);
        if (policy.Cors is { } cors)
        {
            CheckCors(d, Diagnostics.Child(path, "cors"), cors);
        }

        if (policy.Maintenance?.Page is { Length: > MaxPageSize })
        {
            d.Report(Diagnostics.Child(path, "maintenance.page_file"), $"is larger than {MaxPageSize / 1024} KiB");
        }

        foreach (var (status, page) in policy.ErrorPages)
        {
            if (status is not ("502" or "503" or "504"))
            {
                d.Report(Diagnostics.Child(path, "error_pages"), $"'{status}' is not 502, 503 or 504");
            }
            else if (page is null || page.Length > MaxPageSize)
            {
                d.Report(Diagnostics.Child(path, $"error_pages.{status}"), $"must be a page of at most {MaxPageSize / 1024} KiB");
            }
        }

        if (policy.MaxRequestBodySize is <= 0)
        {
            d.Report(Diagnostics.Child(path, "max_request_body_size"), $"must be more than 0 bytes (it is {policy.MaxRequestBodySize})");
        }

        if (policy.Timeout is { } timeout && (timeout < TimeSpan.FromMilliseconds(1) || timeout > TimeSpan.FromDays(1)))
        {
            d.Report(Diagnostics.Child(path, "timeout"), $"must be 1ms to 24h (it is {Seconds(timeout)}s)");
        }

        if (policy.MaxConnectionsPerIp is < 1 or > 1_000_000)
        {
            d.Report(Diagnostics.Child(path, "max_connections_per_ip"), $"must be 1 to 1000000 (it is {policy.MaxConnectionsPerIp})");
        }
    }

    private static bool KindMixed(this PolicyConfig policy) =>
        (policy.MaxConnectionsPerIp is not null || policy.ConnectionRate is not null)
        && (policy.BasicAuth is not null || policy.ApiKeys is not null || policy.Jwt is not null || policy.Oidc is not null || policy.ForwardAuth is not null || policy.RateLimit is not null || policy.RequestHeaders is not null
            || policy.ResponseHeaders is not null || policy.StripPrefix is not null || policy.AddPrefix is not null || policy.HttpsRedirect
            || policy.Cors is not null || policy.Maintenance is not null || policy.ErrorPages.Count > 0 || policy.MaxRequestBodySize is not null
            || policy.Timeout is not null);

    private static void CheckNetworks(Diagnostics d, string path, IReadOnlyList<string> networks)
    {
        for (var i = 0; i < networks.Count; i++)
        {
            if (!ConfigFormats.TryParseNetwork(networks[i], out var network))
            {
                d.Report(Diagnostics.Item(path, i), $"'{networks[i]}' is not an IP address or CIDR range; use e.g. 192.168.1.10, 10.0.0.0/8 or 2001:db8::/32 (a range's address must have no bits set past its prefix)");
            }
            else if (network.BaseAddress.IsIPv4MappedToIPv6)
            {
                d.Report(Diagnostics.Item(path, i), $"'{networks[i]}' is an IPv4-mapped IPv6 address; write it as IPv4 (clients are compared as IPv4)");
            }
        }
    }

    private static void CheckBasicAuth(Diagnostics d, string path, BasicAuthConfig basic)
    {
        if (basic.Users.Count == 0)
        {
            d.Report(Diagnostics.Child(path, "users"), "needs at least one user: 'name:bcrypt-hash' lines in users or htpasswd_file (make them with htpasswd -nB NAME)");
        }

        if (string.IsNullOrEmpty(basic.Realm) || basic.Realm.Length > 100 || basic.Realm.Any(c => c is '"' or '\\' || char.IsControl(c)))
        {
            d.Report(Diagnostics.Child(path, "realm"), "must be 1 to 100 characters without quotes, backslashes or control characters");
        }

        var names = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < basic.Users.Count; i++)
        {
            var line = basic.Users[i] ?? "";
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            var item = Diagnostics.Item(Diagnostics.Child(path, "users"), i);
            if (colon <= 0)
            {
                d.Report(item, "is not a 'name:hash' htpasswd line");
                continue;
            }

            var name = line[..colon];
            if (!names.Add(name))
            {
                d.Report(item, $"user '{name}' is listed twice");
            }

            if (!IsBcrypt(line[(colon + 1)..]))
            {
                // The hash is not shown: it is offline-guessable.
                d.Report(item, $"user '{name}': only bcrypt hashes ($2y$, $2b$, $2a$; htpasswd -B) are accepted, not MD5, SHA or crypt");
            }
        }
    }

    /// <summary>$2a$/$2b$/$2y$, a two-digit cost 4..31, then 53 characters of bcrypt's base-64.</summary>
    public static bool IsBcrypt(string hash) => Bcrypt().IsMatch(hash ?? "")
        && int.Parse(hash.AsSpan(4, 2), CultureInfo.InvariantCulture) is >= 4 and <= 31;

    private static void CheckApiKeys(Diagnostics d, string path, ApiKeysConfig keys)
    {
        if (keys.KeysSha256.Count == 0)
        {
            d.Report(Diagnostics.Child(path, "keys"), "needs at least one key (keys, keys_file or keys_sha256)");
        }

        for (var i = 0; i < keys.KeysSha256.Count; i++)
        {
            if (keys.KeysSha256[i] is not { Length: 64 } hash || !hash.All(char.IsAsciiHexDigit))
            {
                d.Report(Diagnostics.Item(Diagnostics.Child(path, "keys_sha256"), i), "must be 64 hex digits, the SHA-256 of a key (the value is not shown)");
            }
        }

        if (keys.Header is { } header && !HeaderName().IsMatch(header))
        {
            d.Report(Diagnostics.Child(path, "header"), $"'{header}' is not a header name (letters, digits and '-'; no '_', which the edge refuses)");
        }

        if (keys.Query is { } query && !QueryName().IsMatch(query))
        {
            d.Report(Diagnostics.Child(path, "query"), $"'{query}' is not a query parameter name (1 to 64 of letters, digits, '-', '_', '.')");
        }
    }

    private static void CheckJwt(Diagnostics d, string path, JwtConfig jwt)
    {
        CheckUrl(d, Diagnostics.Child(path, "issuer"), jwt.Issuer, required: true);
        CheckUrl(d, Diagnostics.Child(path, "metadata_url"), jwt.MetadataUrl, required: false);
        CheckUrl(d, Diagnostics.Child(path, "jwks_url"), jwt.JwksUrl, required: false);
        if (jwt.MetadataUrl is not null && jwt.JwksUrl is not null)
        {
            d.Report(Diagnostics.Child(path, "jwks_url"), "give metadata_url or jwks_url, not both");
        }

        if (jwt.Audiences.Count == 0)
        {
            d.Report(Diagnostics.Child(path, "audiences"), "needs at least one audience (the aud a token must carry for this service)");
        }

        CheckIdentityHeaders(d, Diagnostics.Child(path, "identity_headers"), jwt.IdentityHeaders.Keys);
        foreach (var (claim, value) in jwt.RequiredClaims)
        {
            if (string.IsNullOrEmpty(claim) || string.IsNullOrEmpty(value))
            {
                d.Report(Diagnostics.Child(path, "required_claims"), "each entry needs a claim type and a value");
            }
        }
    }

    private static void CheckOidc(Diagnostics d, string path, OidcConfig oidc)
    {
        CheckUrl(d, Diagnostics.Child(path, "issuer"), oidc.Issuer, required: true);
        CheckUrl(d, Diagnostics.Child(path, "metadata_url"), oidc.MetadataUrl, required: false);
        if (string.IsNullOrEmpty(oidc.ClientId) || oidc.ClientId.Length > 256 || oidc.ClientId.Any(char.IsControl))
        {
            d.Report(Diagnostics.Child(path, "client_id"), "required: the client id registered at the provider (1 to 256 characters)");
        }

        if (oidc.ClientSecret is { } secret && (secret.Length is 0 or > 1024 || secret.Any(char.IsControl)))
        {
            // The secret itself is never shown.
            d.Report(Diagnostics.Child(path, "client_secret"), "must be 1 to 1024 characters without control characters (or leave it out for a public client)");
        }

        for (var i = 0; i < oidc.Scopes.Count; i++)
        {
            if (!Scope().IsMatch(oidc.Scopes[i] ?? ""))
            {
                d.Report(Diagnostics.Item(Diagnostics.Child(path, "scopes"), i), $"'{oidc.Scopes[i]}' is not a scope (1 to 128 printable characters, no spaces or quotes)");
            }
        }

        CheckPrefix(d, Diagnostics.Child(path, "callback_path"), oidc.CallbackPath);
        CheckPrefix(d, Diagnostics.Child(path, "logout_path"), oidc.LogoutPath);
        if (oidc.CallbackPath == oidc.LogoutPath)
        {
            d.Report(Diagnostics.Child(path, "logout_path"), "must differ from callback_path");
        }

        if (oidc.CookieDomain is { } domain && !IsDomain(domain))
        {
            d.Report(Diagnostics.Child(path, "cookie_domain"), $"'{domain}' is not a parent domain such as example.com (no scheme, port, leading dot or wildcard)");
        }

        if (oidc.SessionLifetime < TimeSpan.FromMinutes(1) || oidc.SessionLifetime > TimeSpan.FromDays(30))
        {
            d.Report(Diagnostics.Child(path, "session_lifetime"), $"must be 1m to 720h, 30 days (it is {Seconds(oidc.SessionLifetime)}s)");
        }

        for (var i = 0; i < oidc.AllowedEmails.Count; i++)
        {
            var email = oidc.AllowedEmails[i] ?? "";
            var at = email.IndexOf('@', StringComparison.Ordinal);
            if (at <= 0 || at != email.LastIndexOf('@') || !IsDomain(email[(at + 1)..]) || email.Length > 254 || email.Any(c => char.IsWhiteSpace(c) || char.IsControl(c)))
            {
                d.Report(Diagnostics.Item(Diagnostics.Child(path, "allowed_emails"), i), $"'{email}' is not an e-mail address");
            }
        }

        for (var i = 0; i < oidc.AllowedDomains.Count; i++)
        {
            if (!IsDomain(oidc.AllowedDomains[i] ?? ""))
            {
                d.Report(Diagnostics.Item(Diagnostics.Child(path, "allowed_domains"), i), $"'{oidc.AllowedDomains[i]}' is not a domain such as example.com");
            }
        }

        for (var i = 0; i < oidc.AllowedGroups.Count; i++)
        {
            if (string.IsNullOrEmpty(oidc.AllowedGroups[i]) || oidc.AllowedGroups[i].Length > 256 || oidc.AllowedGroups[i].Any(char.IsControl))
            {
                d.Report(Diagnostics.Item(Diagnostics.Child(path, "allowed_groups"), i), "must be a group name of 1 to 256 characters");
            }
        }

        if (string.IsNullOrEmpty(oidc.GroupsClaim) || !Scope().IsMatch(oidc.GroupsClaim))
        {
            d.Report(Diagnostics.Child(path, "groups_claim"), $"'{oidc.GroupsClaim}' is not a claim name");
        }

        CheckIdentityHeaders(d, Diagnostics.Child(path, "identity_headers"), oidc.IdentityHeaders.Keys);
        foreach (var (header, claim) in oidc.IdentityHeaders)
        {
            if (string.IsNullOrEmpty(claim))
            {
                d.Report(Diagnostics.Child(path, $"identity_headers.{header}"), "needs a claim type, e.g. email");
            }
        }
    }

    /// <summary>A DNS name of two labels or more, letters, digits and '-' (example.com, corp.example.org).</summary>
    private static bool IsDomain(string name) => name.Length <= 253 && Domain().IsMatch(name);

    private static void CheckForwardAuth(Diagnostics d, string path, ForwardAuthConfig forward)
    {
        CheckUrl(d, Diagnostics.Child(path, "url"), forward.Url, required: true);
        CheckIdentityHeaders(d, Diagnostics.Child(path, "copy_headers"), forward.CopyHeaders);
        for (var i = 0; i < forward.ForwardHeaders.Count; i++)
        {
            CheckHeaderName(d, Diagnostics.Item(Diagnostics.Child(path, "forward_headers"), i), forward.ForwardHeaders[i]);
        }

        if (forward.Timeout < TimeSpan.FromMilliseconds(1) || forward.Timeout > TimeSpan.FromMinutes(1))
        {
            d.Report(Diagnostics.Child(path, "timeout"), $"must be 1ms to 1m (it is {Seconds(forward.Timeout)}s)");
        }
    }

    private static void CheckIdentityHeaders(Diagnostics d, string path, IEnumerable<string> names)
    {
        foreach (var name in names)
        {
            CheckHeaderName(d, path, name);
        }
    }

    /// <summary>An absolute http(s) URL; plain http only to a loopback host (a local identity provider, tests).</summary>
    private static void CheckUrl(Diagnostics d, string path, string? url, bool required)
    {
        if (string.IsNullOrEmpty(url))
        {
            if (required)
            {
                d.Report(path, "required: an https:// URL");
            }

            return;
        }

        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme is not ("https" or "http") || uri.UserInfo.Length > 0 || uri.Fragment.Length > 0)
        {
            d.Report(path, $"'{url}' is not an http(s) URL");
        }
        else if (uri.Scheme == "http" && !uri.IsLoopback)
        {
            d.Report(path, $"'{url}' is plain http to a host that is not loopback; use https (tokens and keys cross it)");
        }
    }

    private static void CheckRate(Diagnostics d, string path, RateConfig? rate)
    {
        if (rate is null)
        {
            return;
        }

        if (rate.Requests is < 1 or > 1_000_000)
        {
            d.Report(Diagnostics.Child(path, "requests"), $"must be 1 to 1000000 (it is {rate.Requests})");
        }

        // Buckets refill from one timer at most every 100 ms, so periods under a second would not hold their rate:
        // write 100 per 1s, not 10 per 100ms.
        if (rate.Per < TimeSpan.FromSeconds(1) || rate.Per > TimeSpan.FromDays(1))
        {
            d.Report(Diagnostics.Child(path, "per"), $"must be 1s to 24h (it is {Seconds(rate.Per)}s); for a finer rate raise requests, e.g. 100 per 1s");
        }

        if (rate.Burst is { } burst && (burst < rate.Requests || burst > 1_000_000))
        {
            d.Report(Diagnostics.Child(path, "burst"), $"must be at least requests ({rate.Requests}) and at most 1000000 (it is {burst})");
        }
    }

    private static void CheckHeaders(Diagnostics d, string path, HeaderRulesConfig? rules)
    {
        if (rules is null)
        {
            return;
        }

        foreach (var (name, value) in rules.Set)
        {
            CheckHeaderName(d, Diagnostics.Child(path, "set"), name);
            if (value is null || value.Length > 8192 || value.Any(c => char.IsControl(c) && c != '\t'))
            {
                d.Report(Diagnostics.Child(path, $"set.{name}"), "must be at most 8192 characters without line breaks or control characters");
            }
        }

        for (var i = 0; i < rules.Remove.Count; i++)
        {
            CheckHeaderName(d, Diagnostics.Item(Diagnostics.Child(path, "remove"), i), rules.Remove[i]);
        }
    }

    private static void CheckHeaderName(Diagnostics d, string path, string? name)
    {
        if (name is null || !HeaderName().IsMatch(name))
        {
            d.Report(path, $"'{name}' is not a header name (letters, digits and '-'; no '_', which the edge refuses)");
        }
        else if (Reserved.Contains(name))
        {
            d.Report(path, $"'{name}' frames or routes the message and cannot be set or removed by a policy");
        }
    }

    private static void CheckPrefix(Diagnostics d, string path, string? prefix)
    {
        if (prefix is not null && (!prefix.StartsWith('/') || prefix.Length < 2 || prefix.EndsWith('/') || prefix.Length > 1024
            || prefix.Any(c => c is '?' or '#' or '%' || char.IsWhiteSpace(c) || char.IsControl(c))))
        {
            d.Report(path, $"'{prefix}' must start with '/', not end with '/', and hold no spaces, '?', '#' or '%', e.g. /api");
        }
    }

    private static void CheckCors(Diagnostics d, string path, CorsConfig cors)
    {
        if (cors.Origins.Count == 0)
        {
            d.Report(Diagnostics.Child(path, "origins"), "needs at least one origin, e.g. https://app.example.com, or \"*\"");
        }

        for (var i = 0; i < cors.Origins.Count; i++)
        {
            var origin = cors.Origins[i] ?? "";
            if (origin == "*")
            {
                if (cors.Credentials)
                {
                    d.Report(Diagnostics.Item(Diagnostics.Child(path, "origins"), i), "\"*\" cannot be combined with credentials: true (browsers refuse it); list the origins");
                }

                continue;
            }

            if (!Uri.TryCreate(origin, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https")
                || !string.Equals(uri.GetLeftPart(UriPartial.Authority), origin, StringComparison.OrdinalIgnoreCase))
            {
                d.Report(Diagnostics.Item(Diagnostics.Child(path, "origins"), i), $"'{origin}' is not an origin; use scheme://host[:port] with nothing after it, e.g. https://app.example.com");
            }
        }

        for (var i = 0; i < cors.Methods.Count; i++)
        {
            if (!Method().IsMatch(cors.Methods[i] ?? ""))
            {
                d.Report(Diagnostics.Item(Diagnostics.Child(path, "methods"), i), $"'{cors.Methods[i]}' is not an HTTP method in capitals, e.g. GET");
            }
        }

        foreach (var (list, key) in new[] { (cors.Headers, "headers"), (cors.ExposeHeaders, "expose_headers") })
        {
            for (var i = 0; i < list.Count; i++)
            {
                if (!HeaderName().IsMatch(list[i] ?? ""))
                {
                    d.Report(Diagnostics.Item(Diagnostics.Child(path, key), i), $"'{list[i]}' is not a header name");
                }
            }
        }

        if (cors.MaxAge < TimeSpan.Zero || cors.MaxAge > TimeSpan.FromDays(1))
        {
            d.Report(Diagnostics.Child(path, "max_age"), $"must be 0s to 24h (it is {Seconds(cors.MaxAge)}s)");
        }
    }

    private static string Seconds(TimeSpan value) => value.TotalSeconds.ToString(CultureInfo.InvariantCulture);

    [GeneratedRegex("^[a-z0-9][a-z0-9._-]{0,62}$")]
    internal static partial Regex Name();

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9-]{0,63}$")]
    private static partial Regex HeaderName();

    [GeneratedRegex("^[A-Za-z0-9._-]{1,64}$")]
    private static partial Regex QueryName();

    [GeneratedRegex("^[!#-\\[\\]-~]{1,128}$")]
    private static partial Regex Scope();

    [GeneratedRegex("^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\\.)+[A-Za-z](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")]
    private static partial Regex Domain();

    [GeneratedRegex("^[A-Z]{1,20}$")]
    private static partial Regex Method();

    [GeneratedRegex("^\\$2[aby]\\$[0-9]{2}\\$[./A-Za-z0-9]{53}$")]
    private static partial Regex Bcrypt();
}
