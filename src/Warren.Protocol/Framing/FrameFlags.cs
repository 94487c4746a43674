namespace Warren.Protocol.Framing;

/// <summary>Flag bits (docs/protocol.md §3). Unknown bits are ignored on receipt and sent as zero.</summary>
[Flags]
public enum FrameFlags : ushort
{
    None = 0,
    /// <summary>On DATA and OPEN: the sender will send nothing more on this stream (half-close).</summary>
    Fin = 0x1,
    /// <summary>On PING: this is the reply. Bits mean different things on different frame types, as in HTTP/2.</summary>
#pragma warning disable CA1069 // same value as Fin on purpose: flag bits are per frame type
    Ack = 0x1,
#pragma warning restore CA1069
}
