namespace Warren.Protocol.Framing;

/// <summary>
/// Error codes carried by RST and GOAWAY (docs/protocol.md §5). Codes below 0x100 are the multiplexer's own;
/// 0x100 and above belong to the tunnel layered on top. An unknown code is treated as <see cref="InternalError"/>.
/// </summary>
public enum ErrorCode : uint
{
    NoError = 0x0,
    ProtocolError = 0x1,
    InternalError = 0x2,
    FlowControlError = 0x3,
    FrameSizeError = 0x4,
    /// <summary>The stream was refused before any processing; the opener may retry it.</summary>
    RefusedStream = 0x5,
    /// <summary>The stream is no longer needed.</summary>
    Cancel = 0x6,
    UnsupportedVersion = 0x7,
    KeepAliveTimeout = 0x8,
    /// <summary>The peer exceeded an abuse budget (resets, refusals, control replies).</summary>
    EnhanceYourCalm = 0x9,
    /// <summary>The peer did not finish the handshake in time.</summary>
    HandshakeTimeout = 0xA,
    /// <summary>Local only, never sent: the transport ended or failed without a GOAWAY.</summary>
    ConnectionLost = 0xB,

    // Tunnel layer (0x100+).
    /// <summary>The open named a service this side does not serve.</summary>
    UnknownService = 0x100,
    /// <summary>The agent could not connect to the service's target (refused, unreachable).</summary>
    DialFailed = 0x101,
    /// <summary>The agent's connect to the target timed out.</summary>
    DialTimeout = 0x102,
    /// <summary>The service's concurrency limit was reached and the queue wait timed out.</summary>
    Overloaded = 0x103,
    /// <summary>Authentication or authorisation failed.</summary>
    Unauthorized = 0x104,
    /// <summary>A stream carried no bytes for longer than its idle timeout.</summary>
    IdleTimeout = 0x105,
}
