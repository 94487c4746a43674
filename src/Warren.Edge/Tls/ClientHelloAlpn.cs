using System.Buffers;
using System.Buffers.Binary;

namespace Warren.Edge.Tls;

/// <summary>
/// Reads the ALPN protocol names a TLS ClientHello offers, from the bytes of its first record, without consuming
/// them. SslClientHelloInfo carries only the server name, and TLS-ALPN-01 (RFC 8737) must pick the certificate by
/// ALPN, so the HTTPS listener peeks. Only the first record is read: validation ClientHellos are small, and a
/// ClientHello split across records is treated as offering nothing special.
/// </summary>
internal static class ClientHelloAlpn
{
    /// <summary>Largest TLS record body (RFC 8446 §5.1) plus its 5-byte header: never buffer more than this.</summary>
    public const int MaxRecord = 5 + (1 << 14);

    public enum Result
    {
        NeedMore,
        Offered,
        NotOffered,
    }

    /// <summary>Whether the ClientHello in <paramref name="buffer"/> offers <paramref name="protocol"/> among its ALPN names.</summary>
    public static Result Offers(ReadOnlySequence<byte> buffer, ReadOnlySpan<byte> protocol)
    {
        if (buffer.Length < 5)
        {
            return Result.NeedMore;
        }
        Span<byte> header = stackalloc byte[5];
        buffer.Slice(0, 5).CopyTo(header);
        // A handshake record (22) of TLS 1.x (RFC 8446 §5.1, B.1).
        if (header[0] != 22 || header[1] != 3)
        {
            return Result.NotOffered;
        }
        var length = BinaryPrimitives.ReadUInt16BigEndian(header[3..]);
        if (length > MaxRecord - 5)
        {
            return Result.NotOffered;
        }
        if (buffer.Length < 5 + length)
        {
            return Result.NeedMore;
        }
        var record = buffer.Slice(5, length).ToArray();
        return Parse(record, protocol) ? Result.Offered : Result.NotOffered;
    }

    private static bool Parse(ReadOnlySpan<byte> hello, ReadOnlySpan<byte> protocol)
    {
        // Handshake: type (1 = client_hello), 3-byte length; then version (2), random (32) (RFC 8446 §4.1.2).
        if (hello.Length < 4 || hello[0] != 1)
        {
            return false;
        }
        var body = hello[4..];
        if (body.Length < 34)
        {
            return false;
        }
        body = body[34..];
        if (!Skip(ref body, 1) || !Skip(ref body, 2) || !Skip(ref body, 1) || body.Length < 2)
        {
            return false; // session id, cipher suites, compression methods
        }
        var extensionsLength = BinaryPrimitives.ReadUInt16BigEndian(body);
        body = body[2..];
        if (extensionsLength > body.Length)
        {
            return false;
        }
        var extensions = body[..extensionsLength];
        while (extensions.Length >= 4)
        {
            var type = BinaryPrimitives.ReadUInt16BigEndian(extensions);
            var size = BinaryPrimitives.ReadUInt16BigEndian(extensions[2..]);
            extensions = extensions[4..];
            if (size > extensions.Length)
            {
                return false;
            }
            if (type == 16) // application_layer_protocol_negotiation (RFC 7301 §3.1)
            {
                var list = extensions[..size];
                if (list.Length < 2)
                {
                    return false;
                }
                list = list[2..];
                while (list.Length > 0)
                {
                    var nameLength = list[0];
                    if (nameLength + 1 > list.Length)
                    {
                        return false;
                    }
                    if (list.Slice(1, nameLength).SequenceEqual(protocol))
                    {
                        return true;
                    }
                    list = list[(1 + nameLength)..];
                }
                return false;
            }
            extensions = extensions[size..];
        }
        return false;
    }

    /// <summary>Skips a vector with a <paramref name="lengthBytes"/>-byte length prefix.</summary>
    private static bool Skip(ref ReadOnlySpan<byte> span, int lengthBytes)
    {
        if (span.Length < lengthBytes)
        {
            return false;
        }
        var length = lengthBytes == 1 ? span[0] : BinaryPrimitives.ReadUInt16BigEndian(span);
        if (span.Length < lengthBytes + length)
        {
            return false;
        }
        span = span[(lengthBytes + length)..];
        return true;
    }
}
