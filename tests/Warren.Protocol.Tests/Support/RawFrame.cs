using System.Buffers;
using System.Buffers.Binary;
using Warren.Protocol.Framing;

namespace Warren.Protocol.Tests.Support;

/// <summary>A parsed frame with its payload copied out, for comparing and asserting.</summary>
internal sealed record RawFrame(FrameHeader Header, byte[] Payload)
{
    /// <summary>Accepts everything version 1 allows, so tests see whatever the session sends.</summary>
    public static readonly FrameLimits PermissiveLimits = new(FrameWriter.Version1, SessionSettings.MaxFramePayloadLimit, SessionSettings.MaxOpenMetadataLimit);

    public ErrorCode GoAwayCode => (ErrorCode)BinaryPrimitives.ReadUInt32BigEndian(Payload.AsSpan(4));

    public uint GoAwayLastStreamId => BinaryPrimitives.ReadUInt32BigEndian(Payload);

    public ErrorCode ResetCode => (ErrorCode)BinaryPrimitives.ReadUInt32BigEndian(Payload);

    public static RawFrame From(in FrameHeader header, in ReadOnlySequence<byte> payload) => new(header, payload.ToArray());

    public bool Equals(RawFrame? other) => other is not null && Header == other.Header && Payload.AsSpan().SequenceEqual(other.Payload);

    public override int GetHashCode() => HashCode.Combine(Header, Payload.Length);

    public override string ToString() => $"{Header} [{Convert.ToHexString(Payload.AsSpan(0, Math.Min(Payload.Length, 16)))}]";
}
