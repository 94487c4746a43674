using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Yarp.ReverseProxy.Forwarder;

namespace Warren.Edge.Forwarding;

/// <summary>
/// A forward that ended because the client went away (it hung up, reset its connection, or closed its WebSocket) is
/// the client's doing, not the service's: no warning, no invented status, and counted apart from service errors
/// (warren_service_client_aborts_total; docs/observability.md). For an upgraded connection it is how a WebSocket
/// normally ends, and not counted at all.
/// </summary>
internal static partial class ClientAbort
{
    /// <summary>
    /// The status recorded (never sent: nobody is left to read it) for a request whose client went away before the
    /// response started; nginx's "client closed request". YARP would record 400 there.
    /// </summary>
    public const int ClientClosedRequest = 499;

    /// <summary>
    /// True when the forward failed because the client's connection went away (Kestrel aborted the request: the client
    /// hung up or reset, or was cut for breaking a limit). A client that sent something wrong but is still there (a
    /// body over the limit) is not gone: YARP's answer (413) reaches it.
    /// </summary>
    public static bool IsClientGone(HttpContext context, ForwarderError error) =>
        error != ForwarderError.None && context.RequestAborted.IsCancellationRequested;

    /// <summary>Records and logs a client that went away; false (nothing done) when the failure was not the client's.</summary>
    public static bool Handle(HttpContext context, ForwarderError error, string service, ILogger logger)
    {
        if (!IsClientGone(context, error))
        {
            return false;
        }
        if (!context.Response.HasStarted)
        {
            context.Response.StatusCode = ClientClosedRequest;
        }
        Log.ClientGone(logger, service, error);
        return true;
    }

    private static partial class Log
    {
        [LoggerMessage(306, LogLevel.Debug, "Service {Service}: the client went away ({Error})", EventName = "ClientGone")]
        public static partial void ClientGone(ILogger logger, string service, ForwarderError error);
    }
}
