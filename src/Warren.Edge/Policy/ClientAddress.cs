using System.Net;
using Microsoft.AspNetCore.Http;
using Warren.Edge.Forwarding;

namespace Warren.Edge.Policy;

/// <summary>
/// The address a policy judges: the connection's peer, or, when the peer is a trusted proxy (edge.yaml
/// <c>trusted_proxies</c>), the right-most X-Forwarded-For entry that is not itself a trusted proxy. Entries left of
/// that one were written by the client and prove nothing (docs/security.md, "Forwarded headers").
/// </summary>
internal static class ClientAddress
{
    public static IPAddress? Of(HttpContext context, TrustedProxies trusted) => trusted.ClientOf(context);

    /// <summary>::ffff:10.0.0.1 is 10.0.0.1, so IPv4 rules match whatever socket the client came in on.</summary>
    public static IPAddress? Normalize(IPAddress? address) => TrustedProxies.Normalize(address);
}
