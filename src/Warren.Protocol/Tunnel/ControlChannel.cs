using System.Buffers.Binary;
using System.Text.Json;
using Warren.Protocol.Framing;

namespace Warren.Protocol.Tunnel;

/// <summary>Reads and writes length-prefixed JSON <see cref="ControlMessage"/>s on the control stream (docs/protocol.md §10.2).</summary>
public sealed class ControlChannel(Stream stream)
{
    /// <summary>Largest message accepted; a 500-service registration is about 60 KiB.</summary>
    public const int MaxMessageSize = 1024 * 1024;

    private readonly byte[] _lengthBuffer = new byte[4];

    public Stream Stream { get; } = stream;

    public async ValueTask SendAsync(ControlMessage message, CancellationToken cancellationToken)
    {
        var json = JsonSerializer.SerializeToUtf8Bytes(message, ControlJsonContext.Default.ControlMessage);
        var frame = new byte[4 + json.Length];
        BinaryPrimitives.WriteUInt32BigEndian(frame, (uint)json.Length);
        json.CopyTo(frame, 4);
        await Stream.WriteAsync(frame, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Reads the next message; null at the end of the stream. Oversized or malformed input is a <see cref="ProtocolException"/>.</summary>
    public async ValueTask<ControlMessage?> ReceiveAsync(CancellationToken cancellationToken)
    {
        if (!await ReadExactlyOrEofAsync(_lengthBuffer, cancellationToken).ConfigureAwait(false))
        {
            return null;
        }
        var length = BinaryPrimitives.ReadUInt32BigEndian(_lengthBuffer);
        if (length is 0 or > MaxMessageSize)
        {
            throw new ProtocolException(ErrorCode.ProtocolError, $"control message of {length} bytes (limit {MaxMessageSize})");
        }
        var body = new byte[length];
        if (!await ReadExactlyOrEofAsync(body, cancellationToken).ConfigureAwait(false))
        {
            throw new ProtocolException(ErrorCode.ProtocolError, "control stream ended inside a message");
        }
        try
        {
            var message = JsonSerializer.Deserialize(body, ControlJsonContext.Default.ControlMessage);
            return message is { Type.Length: > 0 } ? CheckShape(message) : throw new ProtocolException(ErrorCode.ProtocolError, "control message without a type");
        }
        catch (JsonException ex)
        {
            throw new ProtocolException(ErrorCode.ProtocolError, "malformed control message: " + ex.Message);
        }
    }

    /// <summary>
    /// A JSON null, or (with source-generated init-only properties) a missing key, leaves null in fields the types
    /// promise are never null: a list entry, a name, a kind, the hostnames. The edge and the agent read those without
    /// checks, so such a message is refused here, with what is wrong (found by fuzz/, see fuzz/crashes/control).
    /// </summary>
    private static ControlMessage CheckShape(ControlMessage message)
    {
        foreach (var service in message.Services ?? [])
        {
            if (service is null || service.Name is null || service.Kind is null || service.Hostnames is null || service.Hostnames.Any(h => h is null))
            {
                throw new ProtocolException(ErrorCode.ProtocolError, "malformed control message: a service, or its name, kind, hostnames or a hostname, is missing or null");
            }
        }
        if (message.Results?.Any(r => r is null || r.Name is null) == true)
        {
            throw new ProtocolException(ErrorCode.ProtocolError, "malformed control message: a registration result, or its name, is missing or null");
        }
        return message;
    }

    private async ValueTask<bool> ReadExactlyOrEofAsync(Memory<byte> buffer, CancellationToken cancellationToken)
    {
        var read = 0;
        while (read < buffer.Length)
        {
            var n = await Stream.ReadAsync(buffer[read..], cancellationToken).ConfigureAwait(false);
            if (n == 0)
            {
                return read == 0 ? false : throw new ProtocolException(ErrorCode.ProtocolError, "control stream ended inside a message");
            }
            read += n;
        }
        return true;
    }
}
