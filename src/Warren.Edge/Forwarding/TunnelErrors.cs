using Microsoft.AspNetCore.Http;
using Warren.Edge.Telemetry;
using Warren.Protocol.Framing;

namespace Warren.Edge.Forwarding;

/// <summary>
/// The one table from a tunnel stream's error (the agent's reset code, or the session's; docs/protocol.md §10.3) to
/// the answer an HTTP client gets and the error kind metrics and the access log count it as.
/// </summary>
internal static class TunnelErrors
{
    /// <summary>503 when nobody can serve now, 504 when the backend did not answer the agent's dial in time, 502 otherwise.</summary>
    public static (int Status, ErrorKind Kind) Of(ErrorCode code) => code switch
    {
        // No session, or it went away before the stream was opened.
        ErrorCode.NoError => (StatusCodes.Status503ServiceUnavailable, ErrorKind.NoSession),
        // The agent does not serve that name (its config changed under the registration).
        ErrorCode.UnknownService => (StatusCodes.Status502BadGateway, ErrorKind.NoSession),
        // The service's concurrency limit, the agent's backlog, or the session's pending opens: try again soon.
        ErrorCode.Overloaded or ErrorCode.RefusedStream => (StatusCodes.Status503ServiceUnavailable, ErrorKind.Overloaded),
        ErrorCode.DialTimeout => (StatusCodes.Status504GatewayTimeout, ErrorKind.DialTimeout),
        ErrorCode.DialFailed => (StatusCodes.Status502BadGateway, ErrorKind.DialFailed),
        _ => (StatusCodes.Status502BadGateway, ErrorKind.Reset),
    };

    /// <summary>The tunnel error behind a failed forward (HttpClient wraps what the connect callback threw), or null.</summary>
    public static TunnelConnectException? Find(Exception? exception)
    {
        for (var e = exception; e is not null; e = e.InnerException)
        {
            if (e is TunnelConnectException tunnel)
            {
                return tunnel;
            }
        }
        return null;
    }
}
