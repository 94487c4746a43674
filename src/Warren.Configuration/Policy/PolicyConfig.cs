namespace Warren.Configuration;

/// <summary>
/// YAML key <c>policy</c> of an agent.yaml service, and the body of each edge.yaml <c>policies</c> entry: who may
/// reach a service, how often, and what the request looks like (docs/policy.md). The agent sends its own in the
/// registration (docs/protocol.md §10.2) as JSON with the same snake_case names; files (htpasswd, key lists, pages)
/// are read where the policy is written and travel as their content. Every layer that applies to a service must
/// let a request through: an agent's policy can add to the edge's, never weaken it (docs/security.md).
/// </summary>
public sealed record PolicyConfig
{
    /// <summary>YAML key <c>use</c> (agent.yaml only): names of edge.yaml policies to apply as well.</summary>
    public IReadOnlyList<string> Use { get; init; } = [];

    /// <summary>YAML key <c>ip</c>: allow and deny lists of client addresses.</summary>
    public IpRulesConfig? Ip { get; init; }

    /// <summary>YAML key <c>basic_auth</c>.</summary>
    public BasicAuthConfig? BasicAuth { get; init; }

    /// <summary>YAML key <c>api_keys</c>.</summary>
    public ApiKeysConfig? ApiKeys { get; init; }

    /// <summary>YAML key <c>jwt</c>.</summary>
    public JwtConfig? Jwt { get; init; }

    /// <summary>YAML key <c>oidc</c>: an OpenID Connect login (code flow with PKCE, a session cookie).</summary>
    public OidcConfig? Oidc { get; init; }

    /// <summary>YAML key <c>forward_auth</c>.</summary>
    public ForwardAuthConfig? ForwardAuth { get; init; }

    /// <summary>YAML key <c>rate_limit</c>.</summary>
    public RateLimitConfig? RateLimit { get; init; }

    /// <summary>YAML key <c>request_headers</c>: headers set or removed on the request the service receives.</summary>
    public HeaderRulesConfig? RequestHeaders { get; init; }

    /// <summary>YAML key <c>response_headers</c>: headers set or removed on the response the client receives.</summary>
    public HeaderRulesConfig? ResponseHeaders { get; init; }

    /// <summary>YAML key <c>strip_prefix</c>: removed from the start of the path before forwarding ("/api").</summary>
    public string? StripPrefix { get; init; }

    /// <summary>YAML key <c>add_prefix</c>: put before the path before forwarding (after <see cref="StripPrefix"/>).</summary>
    public string? AddPrefix { get; init; }

    /// <summary>YAML key <c>https_redirect</c>: plain-HTTP requests get 308 to the same URL over HTTPS.</summary>
    public bool HttpsRedirect { get; init; }

    /// <summary>YAML key <c>cors</c>.</summary>
    public CorsConfig? Cors { get; init; }

    /// <summary>YAML key <c>maintenance</c>: answer every request with 503 and a page.</summary>
    public MaintenanceConfig? Maintenance { get; init; }

    /// <summary>YAML key <c>error_pages</c>: status ("502", "503", "504") to HTML shown instead of an empty error.</summary>
    public IReadOnlyDictionary<string, string> ErrorPages { get; init; } = new Dictionary<string, string>();

    /// <summary>YAML key <c>max_request_body_size</c>: lower than the edge's limit only (the lowest layer wins).</summary>
    public long? MaxRequestBodySize { get; init; }

    /// <summary>YAML key <c>timeout</c>: the whole request, until the response starts; past it the client gets 504.</summary>
    public TimeSpan? Timeout { get; init; }

    /// <summary>YAML key <c>max_connections_per_ip</c> (TCP services): concurrent connections one client IP may hold.</summary>
    public int? MaxConnectionsPerIp { get; init; }

    /// <summary>YAML key <c>connection_rate</c> (TCP services): new connections per client IP.</summary>
    public RateConfig? ConnectionRate { get; init; }
}
