using System.Net;
using System.Net.Http;
using Warren.Configuration;
using Warren.Edge.Agents;
using Warren.Edge.Routing;

namespace Warren.Edge.Forwarding;

/// <summary>
/// Where an upgrade request (a WebSocket) or an inspector's replay goes, carried to the stream's open in the request's
/// options (<see cref="TunnelTransformer"/> puts an upgrade's there), so opening it neither matches the host again
/// nor picks another session. Other requests need none: their session's client knows where its connections go
/// (<see cref="SessionConnector"/>). The client's address is kept as values, not the request's ConnectionInfo: a
/// stream can be opened after the request that asked for it has ended.
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
