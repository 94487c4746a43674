using System.Net;
using System.Net.Sockets;

namespace Warren.Edge.Shield;

/// <summary>
/// What the abuse shield counts and bans (docs/policy.md, "Abuse shield"): the network of a client address, its /N with
/// N from edge.yaml's <c>shield.ipv4_prefix</c> (default 32: the address) or <c>shield.ipv6_prefix</c> (default 64:
/// one host usually holds a whole /64 and can pick any address in it). A full-length network is written as the bare
/// address, in the admin API and in warren.db, as bans were before prefixes.
/// </summary>
internal static class BanKey
{
    /// <summary>The /<paramref name="prefix"/> holding <paramref name="normalized"/> (already through <c>ClientKey.Normalize</c>).</summary>
    public static IPNetwork Of(IPAddress normalized, int prefix)
    {
        var bits = Bits(normalized.AddressFamily);
        if (prefix >= bits)
        {
            return new IPNetwork(normalized, bits);
        }
        Span<byte> bytes = stackalloc byte[16];
        normalized.TryWriteBytes(bytes, out var length);
        bytes = bytes[..length];
        var whole = prefix / 8;
        bytes[whole] &= (byte)(0xFF << (8 - (prefix % 8)));
        bytes[(whole + 1)..].Clear();
        return new IPNetwork(new IPAddress(bytes), prefix);
    }

    /// <summary>128 for IPv6, 32 otherwise.</summary>
    public static int Bits(AddressFamily family) => family == AddressFamily.InterNetworkV6 ? 128 : 32;

    /// <summary>"192.0.2.7" for a single address, "2001:db8:1:2::/64" for a network.</summary>
    public static string Format(IPNetwork network) =>
        network.PrefixLength == Bits(network.BaseAddress.AddressFamily) ? network.BaseAddress.ToString() : network.ToString();
}
