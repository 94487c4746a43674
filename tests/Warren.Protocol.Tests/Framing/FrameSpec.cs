using System.Buffers;
using System.Buffers.Binary;
using CsCheck;
using Warren.Protocol.Framing;
using Warren.Protocol.Tests.Support;

namespace Warren.Protocol.Tests.Framing;

/// <summary>
/// A frame described by its header fields and its expected payload bytes, written through the matching
/// <see cref="FrameWriter"/> method. The payload is computed here independently of the writer, so a round trip
/// checks the encoding as well as the parse.
/// </summary>
internal sealed record FrameSpec(FrameType Type, FrameFlags Flags, uint StreamId, byte[] Payload)
{
    public static readonly FrameLimits Limits = new(FrameWriter.Version1, 16 * 1024, 1024);

    public RawFrame Expected => new(new FrameHeader(FrameWriter.Version1, Type, Flags, StreamId, (uint)Payload.Length), Payload);

    public void Write(IBufferWriter<byte> output)
    {
        const byte v = FrameWriter.Version1;
        var fin = Flags.HasFlag(FrameFlags.Fin);
        switch (Type)
        {
            case FrameType.Hello:
                FrameWriter.WriteHello(output, Hello.Parse(Payload));
                break;
            case FrameType.Open:
                FrameWriter.WriteOpen(output, v, StreamId, Payload, fin);
                break;
            case FrameType.Accept:
                FrameWriter.WriteAccept(output, v, StreamId);
                break;
            case FrameType.Data:
                FrameWriter.WriteData(output, v, StreamId, Payload, fin);
                break;
            case FrameType.WindowUpdate:
                FrameWriter.WriteWindowUpdate(output, v, StreamId, BinaryPrimitives.ReadUInt32BigEndian(Payload));
                break;
            case FrameType.Reset:
                FrameWriter.WriteReset(output, v, StreamId, (ErrorCode)BinaryPrimitives.ReadUInt32BigEndian(Payload));
                break;
            case FrameType.Ping:
                FrameWriter.WritePing(output, v, BinaryPrimitives.ReadUInt64BigEndian(Payload), Flags.HasFlag(FrameFlags.Ack));
                break;
            case FrameType.GoAway:
                FrameWriter.WriteGoAway(output, v, BinaryPrimitives.ReadUInt32BigEndian(Payload), (ErrorCode)BinaryPrimitives.ReadUInt32BigEndian(Payload.AsSpan(4)), Payload.AsSpan(8));
                break;
            default:
                throw new InvalidOperationException(Type.ToString());
        }
    }

    public static byte[] Encode(IEnumerable<FrameSpec> frames)
    {
        var writer = new ArrayBufferWriter<byte>();
        foreach (var frame in frames)
        {
            frame.Write(writer);
        }
        return writer.WrittenSpan.ToArray();
    }

    public override string ToString() => Expected.ToString();

    // ------------------------------------------------------------------ generators

    private static readonly Gen<uint> StreamIds = Gen.Frequency((3, Gen.UInt[1, 1000]), (1, Gen.UInt[1, uint.MaxValue]));
    private static readonly Gen<FrameFlags> FinFlag = Gen.Bool.Select(b => b ? FrameFlags.Fin : FrameFlags.None);

    private static byte[] BigEndian(uint value)
    {
        var bytes = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(bytes, value);
        return bytes;
    }

    public static readonly Gen<Hello> Hellos =
        Gen.Select(Gen.Byte[1, 255], Gen.Byte, Gen.Int[SessionSettings.MinFramePayload, SessionSettings.MaxFramePayloadLimit],
            Gen.Int[SessionSettings.MinStreamWindow, int.MaxValue], Gen.Int[1, int.MaxValue],
            Gen.Int[SessionSettings.MinOpenMetadata, SessionSettings.MaxOpenMetadataLimit])
        .Select(t => new Hello(t.Item1, (byte)Math.Max(t.Item1, t.Item2), new SessionSettings(t.Item3, t.Item4, t.Item5, t.Item6)));

    /// <summary>Every frame type, valid under <see cref="Limits"/>; <paramref name="maxData"/> bounds DATA and OPEN payloads.</summary>
    public static Gen<FrameSpec> Any(int maxData = 16 * 1024) => Gen.OneOf(
        Hellos.Select(h =>
        {
            var payload = new byte[Hello.PayloadLength];
            h.Write(payload);
            return new FrameSpec(FrameType.Hello, FrameFlags.None, 0, payload);
        }),
        Gen.Select(StreamIds, Gen.Byte.Array[0, Math.Min(maxData, Limits.MaxOpenMetadata)], FinFlag, (id, m, f) => new FrameSpec(FrameType.Open, f, id, m)),
        StreamIds.Select(id => new FrameSpec(FrameType.Accept, FrameFlags.None, id, [])),
        Gen.Select(StreamIds, Gen.Frequency((4, Gen.Byte.Array[0, Math.Min(maxData, 512)]), (1, Gen.Byte.Array[0, maxData])), FinFlag,
            (id, d, f) => new FrameSpec(FrameType.Data, f, id, d)),
        Gen.Select(StreamIds, Gen.UInt, (id, inc) => new FrameSpec(FrameType.WindowUpdate, FrameFlags.None, id, BigEndian(inc))),
        Gen.Select(StreamIds, Gen.UInt, (id, code) => new FrameSpec(FrameType.Reset, FrameFlags.None, id, BigEndian(code))),
        Gen.Select(Gen.Byte.Array[8], Gen.Bool, (opaque, ack) => new FrameSpec(FrameType.Ping, ack ? FrameFlags.Ack : FrameFlags.None, 0, opaque)),
        Gen.Select(Gen.Byte.Array[8], Gen.Byte.Array[0, FrameLimits.MaxGoAwayReason], (fixedPart, reason) => new FrameSpec(FrameType.GoAway, FrameFlags.None, 0, [.. fixedPart, .. reason])));
}
