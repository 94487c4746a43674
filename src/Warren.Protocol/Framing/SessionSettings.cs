namespace Warren.Protocol.Framing;

/// <summary>
/// What one side announces in HELLO about what it accepts (docs/protocol.md §4.1). Each value binds the
/// <em>peer</em>: e.g. <see cref="MaxFramePayload"/> is the largest DATA payload this side will receive.
/// </summary>
public readonly record struct SessionSettings(int MaxFramePayload, int InitialStreamWindow, int MaxConcurrentStreams, int MaxOpenMetadata)
{
    public const int MinFramePayload = 1024;
    public const int MaxFramePayloadLimit = 65_535;
    public const int MinStreamWindow = 16 * 1024;
    public const int MaxWindow = int.MaxValue;
    public const int MinOpenMetadata = 64;
    public const int MaxOpenMetadataLimit = 16 * 1024;

    /// <summary>The values a peer is assumed to have for any setting its HELLO omits.</summary>
    public static SessionSettings ProtocolDefaults { get; } = new(16 * 1024, 256 * 1024, 8192, 1024);
}
