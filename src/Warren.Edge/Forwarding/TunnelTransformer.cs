using System.Net.Http;
using Microsoft.AspNetCore.Http;
using Yarp.ReverseProxy.Forwarder;

namespace Warren.Edge.Forwarding;

/// <summary>
/// YARP's default transforms (X-Forwarded-* set by the edge, replacing what the client sent), except that the
/// backend sees the public Host the client asked for, as it would without a tunnel.
/// </summary>
internal sealed class TunnelTransformer : HttpTransformer
{
    public static readonly TunnelTransformer Instance = new();

    public override async ValueTask TransformRequestAsync(HttpContext httpContext, HttpRequestMessage proxyRequest, string destinationPrefix, CancellationToken cancellationToken)
    {
        await Default.TransformRequestAsync(httpContext, proxyRequest, destinationPrefix, cancellationToken).ConfigureAwait(false);
        proxyRequest.Headers.Host = httpContext.Request.Host.Value;
        var connection = httpContext.Connection;
        proxyRequest.Options.Set(TunnelHttpClientFactory.ClientAddressKey, $"{connection.RemoteIpAddress}:{connection.RemotePort}");
    }

    public override ValueTask<bool> TransformResponseAsync(HttpContext httpContext, HttpResponseMessage? proxyResponse, CancellationToken cancellationToken) =>
        Default.TransformResponseAsync(httpContext, proxyResponse, cancellationToken);

    public override ValueTask TransformResponseTrailersAsync(HttpContext httpContext, HttpResponseMessage proxyResponse, CancellationToken cancellationToken) =>
        Default.TransformResponseTrailersAsync(httpContext, proxyResponse, cancellationToken);
}
