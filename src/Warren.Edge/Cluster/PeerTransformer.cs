using System.Net.Http;
using Microsoft.AspNetCore.Http;
using Warren.Edge.Forwarding;
using Yarp.ReverseProxy.Forwarder;

namespace Warren.Edge.Cluster;

/// <summary>
/// How a request travels to the edge that holds its service (docs/cluster.md, "Forwarding"): as the client sent it
/// (its headers, Host and raw path; no X-Forwarded-* added here: the holding edge adds them as if the client had
/// connected to it), plus <see cref="PeerForwarder.ClientHeader"/>, the client's address, which the holding edge reads
/// only on peer streams. A client's own such header is dropped first.
/// </summary>
internal sealed class PeerTransformer : HttpTransformer
{
    public static readonly PeerTransformer Instance = new();

    public override async ValueTask TransformRequestAsync(HttpContext httpContext, HttpRequestMessage proxyRequest, string destinationPrefix, CancellationToken cancellationToken)
    {
        await base.TransformRequestAsync(httpContext, proxyRequest, destinationPrefix, cancellationToken).ConfigureAwait(false);
        proxyRequest.Headers.Host = httpContext.Request.Headers.Host.ToString();
        if (TunnelTransformer.PathAsSent(httpContext.Request) is { } pathAndQuery)
        {
            proxyRequest.RequestUri = new Uri(string.Concat(destinationPrefix.AsSpan().TrimEnd('/'), pathAndQuery), UriKind.Absolute);
        }
        proxyRequest.Headers.Remove(PeerForwarder.ClientHeader);
        proxyRequest.Headers.Remove(PeerForwarder.UnservedHeader);
        var connection = httpContext.Connection;
        if (connection.RemoteIpAddress is { } address)
        {
            var client = address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;
            proxyRequest.Headers.TryAddWithoutValidation(PeerForwarder.ClientHeader, new System.Net.IPEndPoint(client, connection.RemotePort).ToString());
        }
    }

    public override ValueTask<bool> TransformResponseAsync(HttpContext httpContext, HttpResponseMessage? proxyResponse, CancellationToken cancellationToken)
    {
        if (proxyResponse?.Headers.Contains(PeerForwarder.UnservedHeader) == true)
        {
            // The holding edge drains and has no session for it any more: nothing of this response reaches the client,
            // the request goes to the next edge (Cluster/PeerForwarder.cs).
            httpContext.Items[PeerForwarder.UnservedHeader] = true;
            return ValueTask.FromResult(false);
        }
        return base.TransformResponseAsync(httpContext, proxyResponse, cancellationToken);
    }
}
