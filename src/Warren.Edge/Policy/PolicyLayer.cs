using System.Text;
using Warren.Configuration;

namespace Warren.Edge.Policy;

/// <summary>
/// One policy compiled once (an edge.yaml entry at start, an agent's policy per registration): everything a request
/// check needs, parsed and hashed ahead, so the request path only compares.
/// </summary>
internal sealed class PolicyLayer
{
    private const string DefaultMaintenancePage = "<!doctype html><title>Down for maintenance</title><h1>Down for maintenance</h1><p>Please come back later.</p>\n";

    private PolicyLayer(string name, string key, PolicyConfig config, PolicyServices services)
    {
        Name = name;
        Ip = IpRules.Compile(config.Ip);
        Basic = BasicAuthenticator.Compile(config.BasicAuth, services.Time);
        ApiKeys = ApiKeyAuthenticator.Compile(config.ApiKeys);
        Jwt = JwtAuthenticator.Compile(config.Jwt, services);
        Oidc = OidcAuthenticator.Compile(config.Oidc, services);
        ForwardAuth = ForwardAuthenticator.Compile(config.ForwardAuth, services);
        IdentityHeaders =
        [
            .. (Jwt?.IdentityHeaders.Select(h => h.Header) ?? []).Concat(Oidc?.IdentityHeaders.Select(h => h.Header) ?? []).Concat(ForwardAuth?.CopyHeaders ?? []),
        ];
        PerIp = RateRule.Compile(config.RateLimit?.PerIp, key, "per_ip");
        PerService = RateRule.Compile(config.RateLimit?.PerService, key, "per_service");
        RequestHeaders = HeaderRules.Compile(config.RequestHeaders);
        ResponseHeaders = HeaderRules.Compile(config.ResponseHeaders);
        StripPrefix = config.StripPrefix;
        AddPrefix = config.AddPrefix;
        HttpsRedirect = config.HttpsRedirect;
        Cors = CorsRules.Compile(config.Cors);
        Maintenance = config.Maintenance is { Enabled: true } m ? Encoding.UTF8.GetBytes(m.Page ?? DefaultMaintenancePage) : null;
        ErrorPages = config.ErrorPages.ToDictionary(p => int.Parse(p.Key, System.Globalization.CultureInfo.InvariantCulture), p => Encoding.UTF8.GetBytes(p.Value));
        MaxRequestBodySize = config.MaxRequestBodySize;
        Timeout = config.Timeout;
        MaxConnectionsPerIp = config.MaxConnectionsPerIp;
        ConnectionRate = RateRule.Compile(config.ConnectionRate, key, "connection_rate");
    }

    /// <summary>For logs: "edge policy 'office'" or "the service's policy".</summary>
    public string Name { get; }
    public IpRules? Ip { get; }
    public BasicAuthenticator? Basic { get; }
    public ApiKeyAuthenticator? ApiKeys { get; }
    public JwtAuthenticator? Jwt { get; }
    public OidcAuthenticator? Oidc { get; }
    public ForwardAuthenticator? ForwardAuth { get; }

    /// <summary>Headers this layer sets from the client's identity: any copy the client sent is removed first.</summary>
    public string[] IdentityHeaders { get; }
    public RateRule? PerIp { get; }
    public RateRule? PerService { get; }
    public HeaderRules? RequestHeaders { get; }
    public HeaderRules? ResponseHeaders { get; }
    public string? StripPrefix { get; }
    public string? AddPrefix { get; }
    public bool HttpsRedirect { get; }
    public CorsRules? Cors { get; }
    public byte[]? Maintenance { get; }
    public IReadOnlyDictionary<int, byte[]> ErrorPages { get; }
    public long? MaxRequestBodySize { get; }
    public TimeSpan? Timeout { get; }
    public int? MaxConnectionsPerIp { get; }
    public RateRule? ConnectionRate { get; }

    /// <summary>Whether this layer asks who the client is (any one of its methods lets a request through).</summary>
    public bool Authenticates => Basic is not null || ApiKeys is not null || Jwt is not null || Oidc is not null || ForwardAuth is not null;

    /// <param name="name">For logs.</param>
    /// <param name="key">The same on every edge: <c>edge.NAME</c> or <c>service</c> (a cluster's shared rate limits, Cluster/ClusterRateLimits.cs).</param>
    public static PolicyLayer Compile(string name, string key, PolicyConfig config, PolicyServices services) => new(name, key, config, services);

    public override string ToString() => Name;
}
