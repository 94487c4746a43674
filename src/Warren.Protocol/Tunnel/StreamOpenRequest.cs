using System.Text;
using Warren.Protocol.Framing;

namespace Warren.Protocol.Tunnel;

/// <summary>
/// The OPEN metadata of a tunnel stream (docs/protocol.md §10.1). It names a service, never an address: the
/// agent dials only the target its own configuration gives that service.
/// <code>
/// +--------+-----------+------------------+-----------+--------------------+
/// | kind u8| name len  | service name     | addr len  | client address     |
/// |        | u8 (0..63)| UTF-8            | u8 (0..64)| ASCII "ip:port"    |
/// +--------+-----------+------------------+-----------+--------------------+
/// </code>
/// </summary>
public readonly record struct StreamOpenRequest(StreamKind Kind, string Service, string ClientAddress)
{
    public const int MaxServiceLength = 63;
    public const int MaxClientAddressLength = 64;

    public byte[] Encode()
    {
        var service = Encoding.UTF8.GetBytes(Service);
        var address = Encoding.ASCII.GetBytes(ClientAddress);
        if (service.Length > MaxServiceLength || address.Length > MaxClientAddressLength)
        {
            throw new ArgumentException("service name or client address too long");
        }
        var bytes = new byte[3 + service.Length + address.Length];
        bytes[0] = (byte)Kind;
        bytes[1] = (byte)service.Length;
        service.CopyTo(bytes, 2);
        bytes[2 + service.Length] = (byte)address.Length;
        address.CopyTo(bytes, 3 + service.Length);
        return bytes;
    }

    /// <summary>Parses and validates metadata from the wire; throws <see cref="ProtocolException"/> for anything malformed.</summary>
    public static StreamOpenRequest Decode(ReadOnlySpan<byte> metadata)
    {
        if (metadata.Length < 3)
        {
            throw Malformed("too short");
        }
        var kind = (StreamKind)metadata[0];
        if (kind is not (StreamKind.Http or StreamKind.Tcp or StreamKind.Control or StreamKind.Connect))
        {
            throw Malformed($"unknown stream kind {metadata[0]}");
        }
        int serviceLength = metadata[1];
        if (serviceLength > MaxServiceLength || metadata.Length < 3 + serviceLength)
        {
            throw Malformed("bad service name length");
        }
        int addressLength = metadata[2 + serviceLength];
        if (addressLength > MaxClientAddressLength || metadata.Length != 3 + serviceLength + addressLength)
        {
            throw Malformed("bad client address length");
        }
        string service;
        try
        {
            service = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(metadata.Slice(2, serviceLength));
        }
        catch (DecoderFallbackException)
        {
            throw Malformed("service name is not UTF-8");
        }
        var addressBytes = metadata.Slice(3 + serviceLength, addressLength);
        foreach (var b in addressBytes)
        {
            if (b is < 0x21 or > 0x7E)
            {
                throw Malformed("client address is not printable ASCII");
            }
        }
        return new StreamOpenRequest(kind, service, Encoding.ASCII.GetString(addressBytes));
    }

    private static ProtocolException Malformed(string what) => new(ErrorCode.ProtocolError, "malformed stream open metadata: " + what);
}
