using System.Net;
using Microsoft.AspNetCore.Http;
using Warren.Configuration;

namespace Warren.Edge.Forwarding;

/// <summary>edge.yaml <c>trusted_proxies</c>: the peers whose X-Forwarded-* headers the edge keeps (docs/security.md).</summary>
internal sealed class TrustedProxies(IReadOnlyList<IPNetwork> networks)
{
    public static readonly TrustedProxies None = new([]);

    /// <summary>Entries the config validator accepted; anything else is a programming error.</summary>
    public static TrustedProxies Parse(IReadOnlyList<string> entries) =>
        entries.Count == 0 ? None : new([.. entries.Select(e => ConfigFormats.TryParseNetwork(e, out var network) ? network : throw new FormatException($"trusted_proxies: '{e}' is not an IP address or CIDR range"))]);

    /// <summary>
    /// The client of a request: the connection's peer, or, when the peer is a trusted proxy, the right-most
    /// X-Forwarded-For entry that is not itself a trusted proxy. Entries left of that one were written by the client and
    /// prove nothing (docs/security.md, "Forwarded headers"). IPv4-mapped IPv6 comes back as IPv4.
    /// </summary>
    public IPAddress? ClientOf(HttpContext context)
    {
        var peer = Normalize(context.Connection.RemoteIpAddress);
        if (peer is null || !Contains(peer))
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
                if (!Contains(client))
                {
                    return client;
                }
            }
        }
        return client;
    }

    /// <summary>::ffff:10.0.0.1 is 10.0.0.1, so IPv4 rules match whatever socket the client came in on.</summary>
    public static IPAddress? Normalize(IPAddress? address) => address is { IsIPv4MappedToIPv6: true } ? address.MapToIPv4() : address;

    public bool Contains(IPAddress? address)
    {
        if (address is null || networks.Count == 0)
        {
            return false;
        }
        // ::ffff:10.0.0.1 is 10.0.0.1: an IPv4 range must match it, whatever socket the client came in on.
        var peer = address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;
        foreach (var network in networks)
        {
            if (network.Contains(peer))
            {
                return true;
            }
        }
        return false;
    }
}
