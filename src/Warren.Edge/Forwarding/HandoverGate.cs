using Microsoft.AspNetCore.Http;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;
using Warren.Configuration;
using Warren.Edge.Telemetry;

namespace Warren.Edge.Forwarding;

/// <summary>
/// An edge that handed its sockets to a new one drains (docs/operations.md, "Upgrading the edge without refusing
/// anyone"): its agents moved to the new edge on GOAWAY, so a request that reaches it now, on a keep-alive connection
/// it accepted before, would find no session here and wait in the grace queue for one that never comes. It is refused
/// as unprocessed instead: an HTTP/1.1 connection is closed before any byte of a response, which clients answer by
/// sending the request again on a new connection (RFC 9112 §9.3.1; .NET, curl and browsers do so for a reused
/// connection), and an HTTP/2 stream is reset with REFUSED_STREAM (RFC 9113 §8.7, safe to retry). The new
/// connection lands on the new edge. A request for a service that still has a session here goes on as usual.
/// </summary>
internal sealed partial class HandoverGate(EdgeState state, ILogger logger)
{
    private const int RefusedStream = 0x7;

    public RequestDelegate Wrap(RequestDelegate next) => context => state.HandedOver ? InvokeAsync(context, next) : next(context);

    /// <summary>How long a refused HTTP/1.1 connection waits for its client to close after the edge's FIN.</summary>
    private static readonly TimeSpan ClientCloseWait = TimeSpan.FromSeconds(10);

    private async Task InvokeAsync(HttpContext context, RequestDelegate next)
    {
        var request = context.Request;
        if (!HostNames.TryGetRequestKey(request.Headers.Host.ToString(), out var host) || host.Length == 0
            || state.Routes.MatchHttp(host, request.Path.Value ?? "/") is not { } service || service.PickSession() is not null)
        {
            await next(context).ConfigureAwait(false);
            return;
        }
        Log.Refused(logger, service.Name);
        await RefuseUnprocessedAsync(context).ConfigureAwait(false);
    }

    /// <summary>
    /// Ends <paramref name="context"/>'s request without any of a response, the way a client sends again on a new
    /// connection (see the class): for a request this handed-over edge cannot serve, at the gate or later, when the
    /// service's last session here went away under it. Nothing of the request may have reached a backend.
    /// </summary>
    public static async Task RefuseUnprocessedAsync(HttpContext context)
    {
        if (EdgeRequest.Find(context)?.Service is not null)
        {
            // Routed already (RequestTelemetry.Routed): the access log shows 503, counted as no error of the service.
            RequestTelemetry.Answered(context, EdgeAnswer.HandedOver);
            context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
        }
        if (context.Features.Get<IHttpResetFeature>() is { } reset)
        {
            reset.Reset(RefusedStream);
            return;
        }
        if (context.RequestAborted.IsCancellationRequested || context.Features.Get<IConnectionSocketFeature>()?.Socket is not { } socket)
        {
            context.Abort(); // the client left already (or the edge is cutting its connections): nothing to refuse
            return;
        }
        // A FIN and nothing else: the client reads the end of the connection where the response should start, which
        // is what it retries on (SocketsHttpHandler only for a clean end: an abort's reset would fail the request).
        // The connection closes once the client has let go of it, so no reset can overtake the FIN.
        try
        {
            socket.Shutdown(SocketShutdown.Send);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            // The connection ended meanwhile.
        }
        try
        {
            await Task.Delay(ClientCloseWait, context.RequestAborted).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
        context.Abort();
    }

    private static partial class Log
    {
        [LoggerMessage(1105, LogLevel.Debug, "Service {Service}: a request reached this draining edge after its agents moved to the new edge; refused unprocessed, the client sends it again there", EventName = "HandoverRefusedRequest")]
        public static partial void Refused(ILogger logger, string service);
    }
}
