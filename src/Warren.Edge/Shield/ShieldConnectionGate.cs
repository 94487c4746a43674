using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Warren.Edge.Forwarding;

namespace Warren.Edge.Shield;

/// <summary>
/// The abuse shield at accept on the public HTTP and HTTPS listeners (docs/policy.md, "Abuse shield"): the first
/// connection middleware, before the per-IP cap, the TLS handshake and Kestrel's HTTP parser, so a banned client costs
/// one accept and one lookup, not a handshake or a request. While nobody is banned it is one volatile read; otherwise
/// one lock-free lookup by the peer's address, and a banned peer's connection is reset (counted as
/// <c>warren_shield_refused_total{kind="connection"}</c>). A trusted proxy is never refused here: the clients behind
/// it are judged per request by <see cref="ShieldMiddleware"/>, with the address it forwards.
/// </summary>
internal sealed class ShieldConnectionGate(AbuseShield shield, TrustedProxies trusted)
{
    public ConnectionDelegate Middleware(ConnectionDelegate next) => connection =>
        shield.Count != 0 && Refuse(connection) ? Task.CompletedTask : next(connection);

    private bool Refuse(ConnectionContext connection)
    {
        if (connection.RemoteEndPoint is not IPEndPoint { Address: var peer } || !shield.IsBanned(peer) || trusted.Contains(peer))
        {
            return false;
        }
        if (connection.Features.Get<IConnectionSocketFeature>()?.Socket is { } socket)
        {
            socket.LingerState = new LingerOption(true, 0); // a reset: no FIN handshake, no TIME_WAIT kept for a banned client
        }
        shield.Metrics?.Refused(ShieldRefusal.Connection);
        connection.Abort(new ConnectionAbortedException("the client's address is banned by the abuse shield"));
        return true;
    }
}
