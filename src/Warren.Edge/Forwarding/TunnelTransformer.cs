using System.Net.Http;
using Microsoft.AspNetCore.Http;
using Yarp.ReverseProxy.Forwarder;

namespace Warren.Edge.Forwarding;

/// <summary>
/// YARP's default transforms (X-Forwarded-* set by the edge, replacing what the client sent), except that the
/// backend sees the public Host the client asked for, as it would without a tunnel, that a trusted proxy's
/// X-Forwarded-For/-Proto/-Host are kept with this hop's values appended, that X-Real-IP is the client's address
/// (a trusted proxy's is kept) (docs/security.md, "Forwarded headers"), and that the path reaches the backend as the
/// client encoded it.
/// </summary>
internal sealed class TunnelTransformer(TrustedProxies trusted) : HttpTransformer
{
    private static readonly string[] Appendable = ["X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host"];
    private const string RealIp = "X-Real-IP";

    public override async ValueTask TransformRequestAsync(HttpContext httpContext, HttpRequestMessage proxyRequest, string destinationPrefix, CancellationToken cancellationToken)
    {
        await Default.TransformRequestAsync(httpContext, proxyRequest, destinationPrefix, cancellationToken).ConfigureAwait(false);
        // The Host header as sent (Request.Host is IDNA-decoded to Unicode, which is not what the client asked for).
        proxyRequest.Headers.Host = httpContext.Request.Headers.Host.ToString();
        if (PathAsSent(httpContext.Request) is { } pathAndQuery)
        {
            proxyRequest.RequestUri = new Uri(string.Concat(destinationPrefix.AsSpan().TrimEnd('/'), pathAndQuery), UriKind.Absolute);
        }
        var connection = httpContext.Connection;
        var fromTrustedProxy = trusted.Contains(connection.RemoteIpAddress);
        if (!fromTrustedProxy || !proxyRequest.Headers.Contains(RealIp))
        {
            // Backends read X-Real-IP as the client's address as readily as X-Forwarded-For: a client never sets it.
            proxyRequest.Headers.Remove(RealIp);
            if (connection.RemoteIpAddress is { } client)
            {
                proxyRequest.Headers.TryAddWithoutValidation(RealIp, (client.IsIPv4MappedToIPv6 ? client.MapToIPv4() : client).ToString());
            }
        }
        if (fromTrustedProxy)
        {
            foreach (var name in Appendable)
            {
                var incoming = httpContext.Request.Headers[name];
                if (incoming.Count > 0 && proxyRequest.Headers.TryGetValues(name, out var ours))
                {
                    string[] values = [.. incoming.OfType<string>(), .. ours];
                    proxyRequest.Headers.Remove(name);
                    proxyRequest.Headers.TryAddWithoutValidation(name, values);
                }
            }
        }
        if (EdgeRequest.Find(httpContext) is { } state)
        {
            if (state.Tunnel is { } tunnel)
            {
                proxyRequest.Options.Set(TunnelRequest.Key, tunnel);
            }
            // The service's policy rewrites (path prefixes, request headers; docs/policy.md), set by PolicyMiddleware.
            if (state.Policy is { TransformsRequest: true } policy)
            {
                policy.TransformRequest(httpContext, proxyRequest, destinationPrefix);
            }
        }
    }

    /// <summary>
    /// The request target's path and query as the client wrote them, when they differ from Kestrel's decoded path only
    /// in percent-encoding; else null (YARP then encodes the decoded path). Kestrel keeps "%2F" undecoded in
    /// <see cref="HttpRequest.Path"/> and YARP escapes its '%', so "/api%2Fx" reached the backend as "/api%252Fx"
    /// (npm-style scoped package paths broke). A target Kestrel had to normalise ("/a/../b") is not passed on raw:
    /// the backend gets the path that was routed.
    /// </summary>
    internal static string? PathAsSent(HttpRequest request)
    {
        var raw = request.HttpContext.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpRequestFeature>()?.RawTarget;
        if (raw is null || !raw.StartsWith('/'))
        {
            return null; // absolute-form or asterisk-form: YARP builds the target from the parsed parts
        }
        var query = raw.IndexOf('?', StringComparison.Ordinal);
        var path = query < 0 ? raw : raw[..query];
        if (!path.Contains('%', StringComparison.Ordinal))
        {
            return null; // nothing encoded: YARP writes the same path
        }
        return string.Equals(Uri.UnescapeDataString(path), Uri.UnescapeDataString(request.Path.Value ?? ""), StringComparison.Ordinal) ? raw : null;
    }

    public override async ValueTask<bool> TransformResponseAsync(HttpContext httpContext, HttpResponseMessage? proxyResponse, CancellationToken cancellationToken)
    {
        var copy = await Default.TransformResponseAsync(httpContext, proxyResponse, cancellationToken).ConfigureAwait(false);
        if (EdgeRequest.Find(httpContext)?.Policy is { TransformsResponse: true } policy)
        {
            policy.TransformResponse(httpContext);
        }
        return copy;
    }

    public override ValueTask TransformResponseTrailersAsync(HttpContext httpContext, HttpResponseMessage proxyResponse, CancellationToken cancellationToken) =>
        Default.TransformResponseTrailersAsync(httpContext, proxyResponse, cancellationToken);
}
