using System.Net;
using Warren.Configuration;

namespace Warren.Edge.Forwarding;

/// <summary>edge.yaml <c>trusted_proxies</c>: the peers whose X-Forwarded-* headers the edge keeps (docs/security.md).</summary>
internal sealed class TrustedProxies(IReadOnlyList<IPNetwork> networks)
{
    public static readonly TrustedProxies None = new([]);

    /// <summary>Entries the config validator accepted; anything else is a programming error.</summary>
    public static TrustedProxies Parse(IReadOnlyList<string> entries) =>
        entries.Count == 0 ? None : new([.. entries.Select(e => ConfigFormats.TryParseNetwork(e, out var network) ? network : throw new FormatException($"trusted_proxies: '{e}' is not an IP address or CIDR range"))]);

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
