using Warren.Protocol.Framing;

namespace Warren.Edge.Forwarding;

/// <summary>Opening a tunnel stream failed; <see cref="Code"/> decides what the client sees (docs/protocol.md §10.3).</summary>
internal sealed class TunnelConnectException(ErrorCode code, string message, Exception? inner = null) : IOException(message, inner)
{
    public ErrorCode Code { get; } = code;

    /// <summary>503 when nobody can serve now, 504 when the backend did not answer in time, 502 otherwise.</summary>
    public int StatusCode => Code switch
    {
        ErrorCode.Overloaded or ErrorCode.RefusedStream or ErrorCode.NoError => 503,
        ErrorCode.DialTimeout => 504,
        _ => 502,
    };
}
