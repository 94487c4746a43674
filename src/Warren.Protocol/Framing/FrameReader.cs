using System.Buffers;

namespace Warren.Protocol.Framing;

/// <summary>What this side accepts from its peer; the reader enforces it before buffering any payload.</summary>
public readonly record struct FrameLimits(byte Version, int MaxFramePayload, int MaxOpenMetadata)
{
    public const int MaxGoAwayReason = 256;
}

/// <summary>
/// Parses whole frames out of a byte sequence. Every length is checked against <see cref="FrameLimits"/> as soon
/// as the 12-byte header is in (docs/protocol.md §3), so the peer never decides how much is buffered; every
/// violation raises <see cref="ProtocolException"/> and nothing else.
/// </summary>
public static class FrameReader
{
    /// <summary>
    /// Reads one frame from the front of <paramref name="buffer"/>. Returns false, leaving the buffer as it was,
    /// when the frame is not complete yet. On success <paramref name="buffer"/> is advanced past the frame and
    /// <paramref name="payload"/> is a slice of the original buffer (valid until the caller advances its reader).
    /// </summary>
    public static bool TryReadFrame(ref ReadOnlySequence<byte> buffer, in FrameLimits limits, out FrameHeader header, out ReadOnlySequence<byte> payload)
    {
        payload = default;
        if (buffer.Length < FrameHeader.Size)
        {
            header = default;
            return false;
        }

        header = ReadHeader(buffer);
        Validate(header, limits);

        var frameLength = FrameHeader.Size + (long)header.Length;
        if (buffer.Length < frameLength)
        {
            return false;
        }
        payload = buffer.Slice(FrameHeader.Size, header.Length);
        buffer = buffer.Slice(frameLength);
        return true;
    }

    private static FrameHeader ReadHeader(in ReadOnlySequence<byte> buffer)
    {
        var first = buffer.FirstSpan;
        if (first.Length >= FrameHeader.Size)
        {
            return FrameHeader.Read(first);
        }
        Span<byte> header = stackalloc byte[FrameHeader.Size];
        buffer.Slice(0, FrameHeader.Size).CopyTo(header);
        return FrameHeader.Read(header);
    }

    /// <summary>Checks a header against the frame rules that need no session state (docs/protocol.md §3).</summary>
    public static void Validate(in FrameHeader header, in FrameLimits limits)
    {
        if (header.Version != limits.Version)
        {
            throw new ProtocolException(ErrorCode.UnsupportedVersion, $"frame version {header.Version}, expected {limits.Version}");
        }

        var length = header.Length;
        switch (header.Type)
        {
            case FrameType.Hello:
                RequireSessionStream(header);
                RequireRange(header, 9, Hello.MaxPayloadLength);
                break;
            case FrameType.Ping:
                RequireSessionStream(header);
                RequireExact(header, 8);
                break;
            case FrameType.GoAway:
                RequireSessionStream(header);
                RequireRange(header, 8, 8 + FrameLimits.MaxGoAwayReason);
                break;
            case FrameType.Open:
                RequireStream(header);
                if (length > (uint)limits.MaxOpenMetadata)
                {
                    throw new ProtocolException(ErrorCode.FrameSizeError, $"OPEN metadata of {length} bytes exceeds the limit of {limits.MaxOpenMetadata}");
                }
                break;
            case FrameType.Accept:
                RequireStream(header);
                RequireExact(header, 0);
                break;
            case FrameType.Data:
                RequireStream(header);
                if (length > (uint)limits.MaxFramePayload)
                {
                    throw new ProtocolException(ErrorCode.FrameSizeError, $"DATA payload of {length} bytes exceeds MAX_FRAME_PAYLOAD {limits.MaxFramePayload}");
                }
                break;
            case FrameType.WindowUpdate:
                RequireStream(header);
                RequireExact(header, 4);
                break;
            case FrameType.Reset:
                RequireStream(header);
                RequireExact(header, 4);
                break;
            default:
                throw new ProtocolException(ErrorCode.ProtocolError, $"unknown frame type 0x{(byte)header.Type:x2}");
        }
    }

    private static void RequireSessionStream(in FrameHeader header)
    {
        if (header.StreamId != 0)
        {
            throw new ProtocolException(ErrorCode.ProtocolError, $"{header.Type} must be sent on stream 0, not {header.StreamId}");
        }
    }

    private static void RequireStream(in FrameHeader header)
    {
        if (header.StreamId == 0)
        {
            throw new ProtocolException(ErrorCode.ProtocolError, $"{header.Type} must not be sent on stream 0");
        }
    }

    private static void RequireExact(in FrameHeader header, uint length)
    {
        if (header.Length != length)
        {
            throw new ProtocolException(ErrorCode.FrameSizeError, $"{header.Type} payload must be {length} bytes, not {header.Length}");
        }
    }

    private static void RequireRange(in FrameHeader header, uint min, uint max)
    {
        if (header.Length < min || header.Length > max)
        {
            throw new ProtocolException(ErrorCode.FrameSizeError, $"{header.Type} payload must be {min}..{max} bytes, not {header.Length}");
        }
    }
}
