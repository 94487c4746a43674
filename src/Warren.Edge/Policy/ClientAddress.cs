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
    public static IPAddress? Of(HttpContext context, TrustedProxies trusted)
    {
        var peer = Normalize(context.Connection.RemoteIpAddress);
        if (peer is null || !trusted.Contains(peer))
        {
            return peer;
        }
        var values = context.Request.Headers["X-Forwarded-For"];
        var client = peer;
        for (var v = values.Count - 1; v >= 0; v--)
        {
            var entries = (values[v] ?? "").Split(',');
            for (var e = entries.Length - 1; e >= 0; e--)
            {
                if (!IPAddress.TryParse(entries[e].AsSpan().Trim(), out var address))
                {
                    return client; // garbage from the client's side of the chain: stop at the last good hop
                }
                client = Normalize(address)!;
                if (!trusted.Contains(client))
                {
                    return client;
                }
            }
        }
        return client;
    }

    /// <summary>::ffff:10.0.0.1 is 10.0.0.1, so IPv4 rules match whatever socket the client came in on.</summary>
    public static IPAddress? Normalize(IPAddress? address) => address is { IsIPv4MappedToIPv6: true } ? address.MapToIPv4() : address;
}
