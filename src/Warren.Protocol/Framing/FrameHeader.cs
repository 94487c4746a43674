using System.Buffers.Binary;

namespace Warren.Protocol.Framing;

/// <summary>
/// The fixed 12-byte header in front of every frame (docs/protocol.md §2), big-endian:
/// <code>
///  0         1         2         4              8              12
/// +---------+---------+---------+--------------+--------------+
/// | version |  type   |  flags  |  stream id   |    length    |
/// |   u8    |   u8    |   u16   |     u32      |     u32      |
/// +---------+---------+---------+--------------+--------------+
/// </code>
/// </summary>
public readonly record struct FrameHeader(byte Version, FrameType Type, FrameFlags Flags, uint StreamId, uint Length)
{
    public const int Size = 12;

    public bool HasFlag(FrameFlags flag) => (Flags & flag) == flag;

    public void Write(Span<byte> destination)
    {
        destination[0] = Version;
        destination[1] = (byte)Type;
        BinaryPrimitives.WriteUInt16BigEndian(destination[2..], (ushort)Flags);
        BinaryPrimitives.WriteUInt32BigEndian(destination[4..], StreamId);
        BinaryPrimitives.WriteUInt32BigEndian(destination[8..], Length);
    }

    public static FrameHeader Read(ReadOnlySpan<byte> source) => new(
        source[0],
        (FrameType)source[1],
        (FrameFlags)BinaryPrimitives.ReadUInt16BigEndian(source[2..]),
        BinaryPrimitives.ReadUInt32BigEndian(source[4..]),
        BinaryPrimitives.ReadUInt32BigEndian(source[8..]));

    public override string ToString() => $"{Type} stream={StreamId} flags=0x{(ushort)Flags:x} len={Length}";
}
