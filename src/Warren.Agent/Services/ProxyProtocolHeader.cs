using System.Buffers.Binary;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Warren.Agent.Services;

/// <summary>
/// The PROXY protocol header (HAProxy's proxy-protocol.txt, versions 1 and 2) a TCP service's backend connection
/// starts with when the service sets <c>proxy_protocol</c> (docs/policy.md, "PROXY protocol"), so the backend sees
/// the real client instead of the agent. The source is the client address the edge sends with the stream's OPEN
/// (docs/protocol.md §10.1); the destination is the backend's own address as the agent dialled it, with the port the
/// edge publishes the service on (the edge's listening address is not on the wire). When the client is unknown
/// (no address in the OPEN), v1 says <c>PROXY UNKNOWN</c> and v2 sends the LOCAL command: the backend then uses the
/// connection's own addresses.
/// </summary>
internal static class ProxyProtocolHeader
{
    /// <summary>v2's fixed 12-byte signature.</summary>
    private static ReadOnlySpan<byte> Signature => [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A];

    /// <summary>The header for <paramref name="version"/> ("v1" or "v2", validated with the configuration).</summary>
    public static byte[] Build(string version, string clientAddress, EndPoint? backend, int publicPort)
    {
        var source = IPEndPoint.TryParse(clientAddress, out var parsed) && parsed.Port != 0 ? Normalize(parsed) : null;
        IPEndPoint? destination = null;
        if (source is not null)
        {
            // Both ends of one family, as both versions require: the backend's address if it is of the client's family,
            // else the unspecified address of that family.
            var dialled = backend is IPEndPoint ip ? Normalize(ip).Address : null;
            var address = dialled?.AddressFamily == source.AddressFamily ? dialled
                : source.AddressFamily == AddressFamily.InterNetwork ? IPAddress.Any : IPAddress.IPv6Any;
            destination = new IPEndPoint(address, publicPort);
        }
        return version == "v1" ? Text(source, destination) : Binary(source, destination);
    }

    /// <summary>IPv4-mapped IPv6 is IPv4 (TCP4); an IPv6 zone (fe80::1%eth0) means nothing to the backend and is dropped.</summary>
    private static IPEndPoint Normalize(IPEndPoint endPoint) =>
        endPoint.Address.IsIPv4MappedToIPv6 ? new IPEndPoint(endPoint.Address.MapToIPv4(), endPoint.Port)
        : endPoint.AddressFamily == AddressFamily.InterNetworkV6 && endPoint.Address.ScopeId != 0 ? new IPEndPoint(new IPAddress(endPoint.Address.GetAddressBytes()), endPoint.Port)
        : endPoint;

    /// <summary>v1: <c>PROXY TCP4 192.0.2.1 198.51.100.2 56324 5432\r\n</c> (at most 107 bytes).</summary>
    private static byte[] Text(IPEndPoint? source, IPEndPoint? destination)
    {
        if (source is null || destination is null)
        {
            return "PROXY UNKNOWN\r\n"u8.ToArray();
        }
        var family = source.AddressFamily == AddressFamily.InterNetwork ? "TCP4" : "TCP6";
        return Encoding.ASCII.GetBytes(string.Create(CultureInfo.InvariantCulture,
            $"PROXY {family} {source.Address} {destination.Address} {source.Port} {destination.Port}\r\n"));
    }

    /// <summary>v2: signature, version 2 and command, family TCP over IPv4 or IPv6, length, addresses, ports (big-endian).</summary>
    private static byte[] Binary(IPEndPoint? source, IPEndPoint? destination)
    {
        if (source is null || destination is null)
        {
            var local = new byte[16];
            Signature.CopyTo(local);
            local[12] = 0x20; // version 2, LOCAL
            local[13] = 0x00; // UNSPEC
            return local;   // length 0
        }
        var v4 = source.AddressFamily == AddressFamily.InterNetwork;
        var addressLength = v4 ? 4 : 16;
        var length = (addressLength * 2) + 4;
        var header = new byte[16 + length];
        Signature.CopyTo(header);
        header[12] = 0x21; // version 2, PROXY
        header[13] = (byte)(v4 ? 0x11 : 0x21); // TCP over IPv4 / IPv6
        BinaryPrimitives.WriteUInt16BigEndian(header.AsSpan(14), (ushort)length);
        source.Address.TryWriteBytes(header.AsSpan(16, addressLength), out _);
        destination.Address.TryWriteBytes(header.AsSpan(16 + addressLength, addressLength), out _);
        BinaryPrimitives.WriteUInt16BigEndian(header.AsSpan(16 + (2 * addressLength)), (ushort)source.Port);
        BinaryPrimitives.WriteUInt16BigEndian(header.AsSpan(18 + (2 * addressLength)), (ushort)destination.Port);
        return header;
    }
}
