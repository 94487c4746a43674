using System.Buffers.Binary;

namespace Warren.Protocol.Framing;

/// <summary>
/// The HELLO payload (docs/protocol.md §4). Its layout, and the header in front of it, never change across
/// protocol versions, so that a v1 peer and a v2 peer can always agree on which version to speak.
/// <code>
///  0                6          7          8        9
/// +----------------+----------+----------+--------+--------------------------------+
/// | magic "WARREN" | min ver  | max ver  | count  | count x (id u16, value u32)    |
/// +----------------+----------+----------+--------+--------------------------------+
/// </code>
/// </summary>
public readonly record struct Hello(byte MinVersion, byte MaxVersion, SessionSettings Settings)
{
    public static ReadOnlySpan<byte> Magic => "WARREN"u8;

    /// <summary>Fixed part (magic, versions, count) plus room for sixteen settings.</summary>
    public const int MaxPayloadLength = 9 + (MaxSettings * SettingSize);
    public const int MaxSettings = 16;
    private const int SettingSize = 6;

    // Setting ids (docs/protocol.md §4.1). Unknown ids are ignored so later versions can add more.
    internal const ushort MaxFramePayloadId = 0x1;
    internal const ushort InitialStreamWindowId = 0x2;
    internal const ushort MaxConcurrentStreamsId = 0x3;
    internal const ushort MaxOpenMetadataId = 0x4;

    /// <summary>Length of the payload <see cref="Write"/> produces: the fixed part and four settings.</summary>
    public const int PayloadLength = 9 + (4 * SettingSize);

    public void Write(Span<byte> destination)
    {
        Magic.CopyTo(destination);
        destination[6] = MinVersion;
        destination[7] = MaxVersion;
        destination[8] = 4;
        var span = destination[9..];
        WriteSetting(ref span, MaxFramePayloadId, (uint)Settings.MaxFramePayload);
        WriteSetting(ref span, InitialStreamWindowId, (uint)Settings.InitialStreamWindow);
        WriteSetting(ref span, MaxConcurrentStreamsId, (uint)Settings.MaxConcurrentStreams);
        WriteSetting(ref span, MaxOpenMetadataId, (uint)Settings.MaxOpenMetadata);
    }

    private static void WriteSetting(ref Span<byte> span, ushort id, uint value)
    {
        BinaryPrimitives.WriteUInt16BigEndian(span, id);
        BinaryPrimitives.WriteUInt32BigEndian(span[2..], value);
        span = span[SettingSize..];
    }

    /// <summary>Parses and validates a HELLO payload. Settings absent from it keep the protocol defaults.</summary>
    public static Hello Parse(ReadOnlySpan<byte> payload)
    {
        if (payload.Length < 9 || !payload[..6].SequenceEqual(Magic))
        {
            throw new ProtocolException(ErrorCode.ProtocolError, "HELLO: bad magic; the peer does not speak the Warren protocol");
        }
        var min = payload[6];
        var max = payload[7];
        int count = payload[8];
        if (min == 0 || max < min)
        {
            throw new ProtocolException(ErrorCode.ProtocolError, $"HELLO: invalid version range {min}..{max}");
        }
        if (count > MaxSettings || payload.Length != 9 + (count * SettingSize))
        {
            throw new ProtocolException(ErrorCode.FrameSizeError, $"HELLO: {count} settings do not match a payload of {payload.Length} bytes");
        }
        var settings = SessionSettings.ProtocolDefaults;
        var span = payload[9..];
        for (var i = 0; i < count; i++, span = span[SettingSize..])
        {
            var id = BinaryPrimitives.ReadUInt16BigEndian(span);
            var value = BinaryPrimitives.ReadUInt32BigEndian(span[2..]);
            settings = id switch
            {
                MaxFramePayloadId => settings with { MaxFramePayload = CheckRange(value, SessionSettings.MinFramePayload, SessionSettings.MaxFramePayloadLimit, "MAX_FRAME_PAYLOAD") },
                InitialStreamWindowId => settings with { InitialStreamWindow = CheckRange(value, SessionSettings.MinStreamWindow, SessionSettings.MaxWindow, "INITIAL_STREAM_WINDOW") },
                MaxConcurrentStreamsId => settings with { MaxConcurrentStreams = CheckRange(value, 1, int.MaxValue, "MAX_CONCURRENT_STREAMS") },
                MaxOpenMetadataId => settings with { MaxOpenMetadata = CheckRange(value, SessionSettings.MinOpenMetadata, SessionSettings.MaxOpenMetadataLimit, "MAX_OPEN_METADATA") },
                _ => settings,
            };
        }
        return new Hello(min, max, settings);
    }

    private static int CheckRange(uint value, int min, int max, string name) =>
        value >= (uint)min && value <= (uint)max
            ? (int)value
            : throw new ProtocolException(ErrorCode.ProtocolError, $"HELLO: {name}={value} is outside {min}..{max}");
}
