using System.Net.Http;
using Microsoft.AspNetCore.Http;
using Yarp.ReverseProxy.Forwarder;

namespace Warren.Edge.Policy;

/// <summary>
/// Everything enforced for one service: the edge's layers first (matched by hostname or port, or named in
/// <c>policy.use</c>), then the agent's own. A request must pass every layer, which is why an agent can add to an edge
/// policy and never weaken it (docs/security.md, "Policies"). Immutable; rebuilt when the service registers again.
/// </summary>
internal sealed class ServicePolicy
{
    public ServicePolicy(PolicyLayer[] layers)
    {
        Layers = layers;
        TransformsRequest = layers.Any(l => l.RequestHeaders is not null || l.StripPrefix is not null || l.AddPrefix is not null);
        Cors = layers.Select(l => l.Cors).FirstOrDefault(c => c is not null);
        TransformsResponse = Cors is not null || layers.Any(l => l.ResponseHeaders is not null);
        MaxRequestBodySize = layers.Select(l => l.MaxRequestBodySize).Where(s => s is not null).Min();
        Timeout = layers.Select(l => l.Timeout).Where(t => t is not null).Min();
        Authenticates = layers.Any(l => l.Authenticates);
        LogsIn = layers.Any(l => l.Oidc is not null);
        IdentityHeaders = [.. layers.SelectMany(l => l.IdentityHeaders).Distinct(StringComparer.OrdinalIgnoreCase)];
        var pages = new Dictionary<int, byte[]>();
        foreach (var layer in layers)
        {
            foreach (var (status, page) in layer.ErrorPages)
            {
                pages.TryAdd(status, page); // the edge's page wins over the agent's
            }
        }
        ErrorPages = pages.Count == 0 ? null : pages;
        MaxConnectionsPerIp = layers.Select(l => l.MaxConnectionsPerIp).Where(m => m is not null).Min();
        Description = string.Join(" + ", layers.Select(l => l.Name));
    }

    public PolicyLayer[] Layers { get; }
    public bool TransformsRequest { get; }
    public bool TransformsResponse { get; }
    public CorsRules? Cors { get; }
    public long? MaxRequestBodySize { get; }
    public TimeSpan? Timeout { get; }
    public bool Authenticates { get; }

    /// <summary>Some layer has an OpenID Connect login: its paths are answered by the edge, its cookies never reach the service.</summary>
    public bool LogsIn { get; }

    /// <summary>Every header some layer fills from the client's identity: stripped from every incoming request.</summary>
    public string[] IdentityHeaders { get; }
    public IReadOnlyDictionary<int, byte[]>? ErrorPages { get; }

    /// <summary>TCP: the lowest max_connections_per_ip of the layers.</summary>
    public int? MaxConnectionsPerIp { get; }

    public string Description { get; }

    /// <summary>Path prefixes and request header rules, layer by layer, on the request the service receives (TunnelTransformer).</summary>
    public void TransformRequest(HttpContext context, HttpRequestMessage proxyRequest, string destinationPrefix)
    {
        var path = context.Request.Path;
        var rewritten = false;
        foreach (var layer in Layers)
        {
            if (layer.StripPrefix is { } strip && path.StartsWithSegments(strip, StringComparison.Ordinal, out var rest))
            {
                path = rest.HasValue ? rest : new PathString("/");
                rewritten = true;
            }
            if (layer.AddPrefix is { } add)
            {
                path = new PathString(add).Add(path == "/" ? PathString.Empty : path);
                rewritten = true;
            }
            layer.RequestHeaders?.Apply(proxyRequest);
        }
        if (rewritten)
        {
            proxyRequest.RequestUri = RequestUtilities.MakeDestinationAddress(destinationPrefix, path, context.Request.QueryString);
        }
    }

    /// <summary>Response header rules and CORS headers on what the client receives.</summary>
    public void TransformResponse(HttpContext context)
    {
        var headers = context.Response.Headers;
        foreach (var layer in Layers)
        {
            layer.ResponseHeaders?.Apply(headers);
        }
        if (Cors?.AllowedOrigin(context.Request) is { } origin)
        {
            Cors.AddHeaders(headers, origin);
        }
    }

    public override string ToString() => Description;
}
