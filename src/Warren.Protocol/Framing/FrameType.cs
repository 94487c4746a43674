namespace Warren.Protocol.Framing;

/// <summary>Frame types of protocol version 1 (docs/protocol.md §3). Any other value is a PROTOCOL_ERROR.</summary>
public enum FrameType : byte
{
    /// <summary>First frame each way: magic, versions, settings. Stream 0.</summary>
    Hello = 0x0,
    /// <summary>Opens a stream; payload is opaque open metadata. Flag FIN: the opener sends no data.</summary>
    Open = 0x1,
    /// <summary>The acceptor took the stream. Empty payload.</summary>
    Accept = 0x2,
    /// <summary>Stream bytes. Flag FIN: the sender's last frame on this stream.</summary>
    Data = 0x3,
    /// <summary>Adds credit to a stream's send window. 4-byte increment.</summary>
    WindowUpdate = 0x4,
    /// <summary>Aborts a stream in both directions. 4-byte error code.</summary>
    Reset = 0x5,
    /// <summary>Liveness and RTT. 8 opaque bytes echoed back with flag ACK. Stream 0.</summary>
    Ping = 0x6,
    /// <summary>No new streams; 4-byte last stream id, 4-byte error code, optional UTF-8 reason. Stream 0.</summary>
    GoAway = 0x7,
}
