using System.Net;
using System.Net.Http;
using Warren.Configuration;
using Warren.Edge.Agents;
using Warren.Edge.Routing;
using Warren.Protocol.Framing;
using Warren.Protocol.Session;
using Warren.Protocol.Tunnel;

namespace Warren.Edge.Forwarding;

/// <summary>
/// The HTTP client the forwarder sends through: a <see cref="SocketsHttpHandler"/> whose "connections" are tunnel
/// streams. The destination host names the service ("s{id}.tunnel"), so each service gets its own keep-alive pool;
/// a new connection opens a stream on the session whose client it is (<see cref="SessionConnector"/>), or where a
/// request's <see cref="TunnelRequest"/> says (the inspector's replays; tests).
/// </summary>
internal static class TunnelHttpClientFactory
{
    public const string HostSuffix = ".tunnel";

    public static string DestinationPrefix(int serviceId) => $"http://s{serviceId}{HostSuffix}/";

    /// <param name="openTimeout">How long a new connection's stream may take to open.</param>
    /// <param name="connector">The session this client's connections go to; null: each request names its target.</param>
    public static HttpMessageInvoker Create(TimeSpan openTimeout, SessionConnector? connector = null)
    {
        var handler = new SocketsHttpHandler
        {
            // As YARP's ForwarderHttpClientFactory: no proxy, redirects, decompression or cookies.
            UseProxy = false,
            AllowAutoRedirect = false,
            AutomaticDecompression = DecompressionMethods.None,
            UseCookies = false,
            ActivityHeadersPropagator = null,
            EnableMultipleHttp2Connections = false,
            PooledConnectionIdleTimeout = TimeSpan.FromSeconds(60),
            ConnectTimeout = openTimeout,
            ConnectCallback = connector is null ? ConnectAsync : connector.ConnectAsync,
        };
        return new HttpMessageInvoker(new RequestBodyFlusher(handler), disposeHandler: true); // a trickled upload reaches the backend per chunk
    }

    /// <summary>
    /// Opens a stream for a new pooled connection, to the service and session the request that asked for it names
    /// (<see cref="TunnelRequest"/>); another session of the service if that one is going away by now or goes away
    /// under the open (ServiceEntry.OpenStreamAsync: nothing of the request was sent yet, so it is never sent twice).
    /// </summary>
    private static ValueTask<Stream> ConnectAsync(SocketsHttpConnectionContext context, CancellationToken cancellationToken) =>
        OpenAsync(context.InitialRequestMessage, cancellationToken);

    /// <summary>
    /// Opens the tunnel stream <paramref name="request"/> goes over (its <see cref="TunnelRequest"/>); a failure is a
    /// <see cref="TunnelConnectException"/> that <see cref="TunnelErrors"/> maps to the client's answer.
    /// </summary>
    public static async ValueTask<Stream> OpenAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        if (!request.Options.TryGetValue(TunnelRequest.Key, out var target))
        {
            throw new TunnelConnectException(ErrorCode.UnknownService, $"no tunnel target for {request.RequestUri?.Host}");
        }
        return await OpenAsync(target.Service, target.Session, target.ClientText(), target.Grace, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>An HTTP stream to <paramref name="service"/> on <paramref name="session"/> (or its next session); a failure is a <see cref="TunnelConnectException"/>.</summary>
    internal static async ValueTask<Stream> OpenAsync(ServiceEntry service, AgentSession session, string client, GraceConfig grace, CancellationToken cancellationToken)
    {
        try
        {
            return await service.OpenStreamAsync(session, StreamKind.Http, client, grace, cancellationToken).ConfigureAwait(false);
        }
        catch (SessionClosedException ex)
        {
            throw new TunnelConnectException(ErrorCode.NoError, $"no agent session serves {service.Name}: {ex.Message}", ex);
        }
        catch (MuxException ex)
        {
            throw new TunnelConnectException(ex.Code, $"service {service.Name}: {ex.Message}", ex);
        }
    }
}
