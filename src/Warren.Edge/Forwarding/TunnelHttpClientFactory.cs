using System.Net;
using System.Net.Http;
using Warren.Edge.Routing;
using Warren.Protocol.Framing;
using Warren.Protocol.Session;
using Warren.Protocol.Tunnel;

namespace Warren.Edge.Forwarding;

/// <summary>
/// The HTTP client the forwarder sends through: a <see cref="SocketsHttpHandler"/> whose "connections" are tunnel
/// streams. The destination host names the service ("s{id}.tunnel"), so each service gets its own keep-alive pool;
/// a new connection opens a stream on the least-loaded session serving it.
/// </summary>
internal static class TunnelHttpClientFactory
{
    public const string HostSuffix = ".tunnel";

    public static string DestinationPrefix(int serviceId) => $"http://s{serviceId}{HostSuffix}/";

    public static HttpMessageInvoker Create(RouteTable routes, TimeSpan openTimeout)
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
            ConnectCallback = (context, cancellationToken) => ConnectAsync(routes, context, cancellationToken),
        };
        return new HttpMessageInvoker(handler, disposeHandler: true);
    }

    private static async ValueTask<Stream> ConnectAsync(RouteTable routes, SocketsHttpConnectionContext context, CancellationToken cancellationToken)
    {
        var host = context.DnsEndPoint.Host;
        if (!host.StartsWith('s') || !host.EndsWith(HostSuffix, StringComparison.Ordinal)
            || !int.TryParse(host.AsSpan(1, host.Length - 1 - HostSuffix.Length), out var id)
            || routes.GetById(id) is not { } service)
        {
            throw new TunnelConnectException(ErrorCode.UnknownService, $"no service behind {host}");
        }
        var session = service.PickSession() ?? throw new TunnelConnectException(ErrorCode.NoError, $"no agent session serves {service.Name}");
        var client = context.InitialRequestMessage.Options.TryGetValue(ClientAddressKey, out var address) ? address : "";
        try
        {
            return await session.OpenAsync(service, StreamKind.Http, client, cancellationToken).ConfigureAwait(false);
        }
        catch (MuxException ex)
        {
            throw new TunnelConnectException(ex.Code, $"service {service.Name}: {ex.Message}", ex);
        }
    }

    /// <summary>Carries the client's address from the forwarder's transform into the OPEN metadata.</summary>
    public static readonly HttpRequestOptionsKey<string> ClientAddressKey = new("warren.client");
}
