using Warren.Protocol.Framing;

namespace Warren.Edge.Forwarding;

/// <summary>Opening a tunnel stream failed; <see cref="Code"/> decides what the client sees (<see cref="TunnelErrors"/>).</summary>
internal sealed class TunnelConnectException(ErrorCode code, string message, Exception? inner = null) : IOException(message, inner)
{
    public ErrorCode Code { get; } = code;

    public int StatusCode => TunnelErrors.Of(Code).Status;
}
