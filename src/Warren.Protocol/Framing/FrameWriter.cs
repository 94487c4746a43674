using System.Buffers;
using System.Buffers.Binary;

namespace Warren.Protocol.Framing;

/// <summary>
/// Writes frames into an <see cref="IBufferWriter{T}"/> (the session's transport pipe). Nothing here allocates:
/// headers and payloads are written straight into the writer's pooled memory.
/// </summary>
public static class FrameWriter
{
    public const byte Version1 = 1;

    public static void WriteHello(IBufferWriter<byte> output, in Hello hello)
    {
        const int length = Hello.PayloadLength;
        var span = output.GetSpan(FrameHeader.Size + length);
        new FrameHeader(Version1, FrameType.Hello, FrameFlags.None, 0, (uint)length).Write(span);
        hello.Write(span[FrameHeader.Size..]);
        output.Advance(FrameHeader.Size + length);
    }

    public static void WriteOpen(IBufferWriter<byte> output, byte version, uint streamId, ReadOnlySpan<byte> metadata, bool fin)
    {
        var span = output.GetSpan(FrameHeader.Size + metadata.Length);
        new FrameHeader(version, FrameType.Open, fin ? FrameFlags.Fin : FrameFlags.None, streamId, (uint)metadata.Length).Write(span);
        metadata.CopyTo(span[FrameHeader.Size..]);
        output.Advance(FrameHeader.Size + metadata.Length);
    }

    public static void WriteAccept(IBufferWriter<byte> output, byte version, uint streamId)
    {
        var span = output.GetSpan(FrameHeader.Size);
        new FrameHeader(version, FrameType.Accept, FrameFlags.None, streamId, 0).Write(span);
        output.Advance(FrameHeader.Size);
    }

    /// <summary>Writes one DATA frame; <paramref name="payload"/> must fit the peer's MAX_FRAME_PAYLOAD.</summary>
    public static void WriteData(IBufferWriter<byte> output, byte version, uint streamId, ReadOnlySpan<byte> payload, bool fin)
    {
        var span = output.GetSpan(FrameHeader.Size + payload.Length);
        new FrameHeader(version, FrameType.Data, fin ? FrameFlags.Fin : FrameFlags.None, streamId, (uint)payload.Length).Write(span);
        payload.CopyTo(span[FrameHeader.Size..]);
        output.Advance(FrameHeader.Size + payload.Length);
    }

    public static void WriteWindowUpdate(IBufferWriter<byte> output, byte version, uint streamId, uint increment) =>
        WriteUInt32Frame(output, version, FrameType.WindowUpdate, streamId, increment);

    public static void WriteReset(IBufferWriter<byte> output, byte version, uint streamId, ErrorCode code) =>
        WriteUInt32Frame(output, version, FrameType.Reset, streamId, (uint)code);

    public static void WritePing(IBufferWriter<byte> output, byte version, ulong opaque, bool ack)
    {
        var span = output.GetSpan(FrameHeader.Size + 8);
        new FrameHeader(version, FrameType.Ping, ack ? FrameFlags.Ack : FrameFlags.None, 0, 8).Write(span);
        BinaryPrimitives.WriteUInt64BigEndian(span[FrameHeader.Size..], opaque);
        output.Advance(FrameHeader.Size + 8);
    }

    /// <summary>GOAWAY with an optional reason, truncated to <see cref="FrameLimits.MaxGoAwayReason"/> bytes.</summary>
    public static void WriteGoAway(IBufferWriter<byte> output, byte version, uint lastStreamId, ErrorCode code, ReadOnlySpan<byte> reason)
    {
        if (reason.Length > FrameLimits.MaxGoAwayReason)
        {
            reason = reason[..FrameLimits.MaxGoAwayReason];
        }
        var length = 8 + reason.Length;
        var span = output.GetSpan(FrameHeader.Size + length);
        new FrameHeader(version, FrameType.GoAway, FrameFlags.None, 0, (uint)length).Write(span);
        BinaryPrimitives.WriteUInt32BigEndian(span[FrameHeader.Size..], lastStreamId);
        BinaryPrimitives.WriteUInt32BigEndian(span[(FrameHeader.Size + 4)..], (uint)code);
        reason.CopyTo(span[(FrameHeader.Size + 8)..]);
        output.Advance(FrameHeader.Size + length);
    }

    private static void WriteUInt32Frame(IBufferWriter<byte> output, byte version, FrameType type, uint streamId, uint value)
    {
        var span = output.GetSpan(FrameHeader.Size + 4);
        new FrameHeader(version, type, FrameFlags.None, streamId, 4).Write(span);
        BinaryPrimitives.WriteUInt32BigEndian(span[FrameHeader.Size..], value);
        output.Advance(FrameHeader.Size + 4);
    }
}
