using System.Globalization;
using System.Net;
using System.Net.Http;
using Warren.Edge.Agents;
using Warren.Edge.Routing;
using Warren.Protocol.Framing;

namespace Warren.Edge.Forwarding;

/// <summary>
/// Opens the tunnel streams of one agent session's HTTP client (<see cref="TunnelHttpClient"/>): a new pooled
/// connection for "s{id}.tunnel" is a stream to service {id} on this session, or on the service's next session when
/// this one is going away (ServiceEntry.OpenStreamAsync). Everything it needs is the client's session and the
/// connection's host, so a request carries nothing for it: carrying a target in every request's options cost a
/// dictionary and an object per request (about 270 B) for a callback that runs only when the pool has no idle
/// connection (docs/performance.md, "Before and after").
/// </summary>
internal sealed class SessionConnector(AgentSession session, RouteTable routes)
{
    public AgentSession Session { get; } = session;

    /// <summary>The HTTP client's connect callback.</summary>
    public async ValueTask<Stream> ConnectAsync(SocketsHttpConnectionContext context, CancellationToken cancellationToken)
    {
        var request = context.InitialRequestMessage;
        if (request.Options.TryGetValue(TunnelRequest.Key, out _))
        {
            return await TunnelHttpClientFactory.OpenAsync(request, cancellationToken).ConfigureAwait(false); // a replay names its target
        }
        var host = context.DnsEndPoint.Host;
        if (ServiceOf(host) is not { } service)
        {
            // The service went away between routing the request and its connection: as if it had never been there.
            throw new TunnelConnectException(ErrorCode.UnknownService, $"no service for {host}");
        }
        return await TunnelHttpClientFactory.OpenAsync(service, Session, ClientOf(request), routes.Grace, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The service "s{id}.tunnel" names: one of the session's own, or (re-registered meanwhile) the route table's.</summary>
    internal ServiceEntry? ServiceOf(string host)
    {
        if (!host.EndsWith(TunnelHttpClientFactory.HostSuffix, StringComparison.Ordinal) || host[0] != 's'
            || !int.TryParse(host.AsSpan(1, host.Length - 1 - TunnelHttpClientFactory.HostSuffix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out var id))
        {
            return null;
        }
        foreach (var service in Session.Services)
        {
            if (service.Id == id)
            {
                return service;
            }
        }
        return routes.GetById(id);
    }

    /// <summary>
    /// The OPEN's client address (informational for HTTP, docs/protocol.md §10.1): the client of the request the
    /// connection was opened for, as the transformer wrote it into X-Real-IP (no port: later requests on the same
    /// connection may come from other clients, each named in its own X-Forwarded-For). Empty when it is no address.
    /// </summary>
    internal static string ClientOf(HttpRequestMessage request) =>
        request.Headers.TryGetValues("X-Real-IP", out var values) && values.FirstOrDefault() is { } value
            && IPAddress.TryParse(value, out var address) ? address.ToString() : "";
}
