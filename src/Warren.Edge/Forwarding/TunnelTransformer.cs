using System.Net.Http;
using Microsoft.AspNetCore.Http;
using Warren.Edge.Policy;
using Yarp.ReverseProxy.Forwarder;

namespace Warren.Edge.Forwarding;

/// <summary>
/// YARP's default transforms (X-Forwarded-* set by the edge, replacing what the client sent), except that the
/// backend sees the public Host the client asked for, as it would without a tunnel, and that a trusted proxy's
/// X-Forwarded-For/-Proto/-Host are kept with this hop's values appended (docs/security.md, "Forwarded headers").
/// </summary>
internal sealed class TunnelTransformer(TrustedProxies trusted) : HttpTransformer
{
    private static readonly string[] Appendable = ["X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host"];

    public override async ValueTask TransformRequestAsync(HttpContext httpContext, HttpRequestMessage proxyRequest, string destinationPrefix, CancellationToken cancellationToken)
    {
        await Default.TransformRequestAsync(httpContext, proxyRequest, destinationPrefix, cancellationToken).ConfigureAwait(false);
        proxyRequest.Headers.Host = httpContext.Request.Host.Value;
        var connection = httpContext.Connection;
        if (trusted.Contains(connection.RemoteIpAddress))
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
        proxyRequest.Options.Set(TunnelHttpClientFactory.ClientAddressKey, $"{connection.RemoteIpAddress}:{connection.RemotePort}");
        // The service's policy rewrites (path prefixes, request headers; docs/policy.md), set by PolicyMiddleware.
        if (httpContext.Features.Get<ServicePolicy>() is { TransformsRequest: true } policy)
        {
            policy.TransformRequest(httpContext, proxyRequest, destinationPrefix);
        }
    }

    public override async ValueTask<bool> TransformResponseAsync(HttpContext httpContext, HttpResponseMessage? proxyResponse, CancellationToken cancellationToken)
    {
        var copy = await Default.TransformResponseAsync(httpContext, proxyResponse, cancellationToken).ConfigureAwait(false);
        if (httpContext.Features.Get<ServicePolicy>() is { TransformsResponse: true } policy)
        {
            policy.TransformResponse(httpContext);
        }
        return copy;
    }

    public override ValueTask TransformResponseTrailersAsync(HttpContext httpContext, HttpResponseMessage proxyResponse, CancellationToken cancellationToken) =>
        Default.TransformResponseTrailersAsync(httpContext, proxyResponse, cancellationToken);
}
