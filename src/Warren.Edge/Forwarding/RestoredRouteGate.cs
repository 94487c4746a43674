using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Warren.Configuration;
using Warren.Edge.Routing;
using Warren.Edge.Telemetry;

namespace Warren.Edge.Forwarding;

/// <summary>
/// A request for a service the edge knows only from before its restart (RouteTable.Restore) waits here, in the
/// service's grace queue, until the agent registers it again, before any policy step: that service's policy comes with
/// the registration, and until then the edge cannot know whether it needs a login, an allowed address or a rate
/// limit. Past the grace the request gets 503, as for any known service nobody serves (docs/operations.md, "The grace
/// queue"). When no restored service is left (the usual case) this is one volatile read per request.
/// </summary>
internal sealed partial class RestoredRouteGate(RouteTable routes, ILogger logger)
{
    public RequestDelegate Wrap(RequestDelegate next) => context => routes.HasRestored ? InvokeAsync(context, next) : next(context);

    private async Task InvokeAsync(HttpContext context, RequestDelegate next)
    {
        var request = context.Request;
        if (HostNames.TryGetRequestKey(request.Headers.Host.ToString(), out var host) && host.Length > 0
            && routes.MatchHttp(host, request.Path.Value ?? "/") is { Restored: true } service
            && service.PickSession() is null
            && await service.WaitForSessionAsync(routes.Grace, context.RequestAborted).ConfigureAwait(false) is null)
        {
            RequestTelemetry.Routed(context, service);
            if (routes.HandedOver)
            {
                // The edge handed its sockets over while the request waited: the agent registers with the new edge.
                await HandoverGate.RefuseUnprocessedAsync(context).ConfigureAwait(false);
                return;
            }
            RequestTelemetry.Answered(context, EdgeAnswer.NoSession);
            Log.NotBack(logger, service.Name);
            context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
            return;
        }
        await next(context).ConfigureAwait(false);
    }

    private static partial class Log
    {
        [LoggerMessage(1102, LogLevel.Warning, "Service {Service}: known from before the restart, its agent has not registered it again within the grace -> 503", EventName = "RestoredServiceNotBack")]
        public static partial void NotBack(ILogger logger, string service);
    }
}
