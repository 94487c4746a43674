using System.Net;
using System.Net.Sockets;

namespace Warren.Edge.Limits;

/// <summary>
/// Who a client is, for the per-client limits (docs/security.md "Per-client limits"): its address, or the IPv6 /64
/// it belongs to. An IPv4-mapped IPv6 address is the IPv4 client it stands for (CVE-2026-2455 was such a bypass), and
/// a scope id is dropped (one host on one link). One IPv6 host usually owns a whole /64 and can pick any address in
/// it, so a limit per address alone is no limit for IPv6: every limit also counts the /64, with a larger cap.
/// </summary>
internal readonly record struct ClientKey
{
    private ClientKey(IPAddress address, bool isSubnet) => (Address, IsSubnet) = (address, isSubnet);

    /// <summary>The normalised address, or the /64 prefix with its low 64 bits zero when <see cref="IsSubnet"/>.</summary>
    public IPAddress Address { get; }

    /// <summary>True for an IPv6 /64 (never equal to the key of the address that happens to end in zeros).</summary>
    public bool IsSubnet { get; }

    /// <summary>The key of one address.</summary>
    public static ClientKey Of(IPAddress address) => new(Normalize(address), isSubnet: false);

    /// <summary>The key of the IPv6 /64 that holds <paramref name="address"/>; null for IPv4 (and IPv4-mapped IPv6).</summary>
    public static ClientKey? SubnetOf(IPAddress address)
    {
        var normalized = Normalize(address);
        if (normalized.AddressFamily != AddressFamily.InterNetworkV6)
        {
            return null;
        }
        Span<byte> bytes = stackalloc byte[16];
        normalized.TryWriteBytes(bytes, out _);
        bytes[8..].Clear();
        return new ClientKey(new IPAddress(bytes), isSubnet: true);
    }

    /// <summary>IPv4-mapped IPv6 as IPv4, IPv6 without its scope id; anything else unchanged.</summary>
    public static IPAddress Normalize(IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        if (address.IsIPv4MappedToIPv6)
        {
            return address.MapToIPv4();
        }
        if (address.AddressFamily == AddressFamily.InterNetworkV6 && address.ScopeId != 0)
        {
            Span<byte> bytes = stackalloc byte[16];
            address.TryWriteBytes(bytes, out _);
            return new IPAddress(bytes);
        }
        return address;
    }

    public override string ToString() => IsSubnet ? $"{Address}/64" : Address.ToString();
}
