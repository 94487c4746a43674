using System.Net;
using System.Net.Http;
using Warren.Configuration;
using Warren.Edge.Agents;
using Warren.Edge.Routing;

namespace Warren.Edge.Forwarding;

/// <summary>
/// Where one forwarded request goes, resolved once by <see cref="TunnelForwardingMiddleware"/> and carried to the HTTP
/// client's connect callback in the request's options (<see cref="TunnelTransformer"/> puts it there), so opening a
/// stream neither matches the host again nor picks another session. The client's address is kept as values, not the
/// request's ConnectionInfo: a connection can be made after the request that asked for it has ended.
/// </summary>
internal sealed class TunnelRequest(ServiceEntry service, AgentSession session, GraceConfig grace, IPAddress? clientAddress, int clientPort)
{
    public static readonly HttpRequestOptionsKey<TunnelRequest> Key = new("warren.tunnel");

    public ServiceEntry Service { get; } = service;

    /// <summary>The session picked when the request was routed; the connect callback picks again if it is going away.</summary>
    public AgentSession Session { get; } = session;

    /// <summary>How long the stream's open may wait for the next session when this one goes away under it.</summary>
    public GraceConfig Grace { get; } = grace;

    /// <summary>"address:port" for the OPEN metadata; only formatted when a stream is opened.</summary>
    public string ClientText() => clientAddress is null ? "" : $"{clientAddress}:{clientPort}";
}
