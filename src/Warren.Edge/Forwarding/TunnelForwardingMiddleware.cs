using System.Net;
using System.Net.Http;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;
using Warren.Configuration;
using Warren.Edge.Routing;
using Warren.Protocol.Framing;
using Yarp.ReverseProxy.Forwarder;

namespace Warren.Edge.Forwarding;

/// <summary>
/// The public request path: route by Host (and path prefix), then let YARP forward the request over a tunnel
/// stream. Unknown host → 404, nobody serving → 503, backend refused → 502, backend too slow → 504; each with one
/// log line and no internal detail for the client.
/// </summary>
internal sealed partial class TunnelForwardingMiddleware(
    IHttpForwarder forwarder, RouteTable routes, TunnelHttpClient client, TunnelTransformer transformer, EdgeLimitsConfig limits,
    ClientShare clientShare, ILogger<TunnelForwardingMiddleware> logger)
{
    public async Task InvokeAsync(HttpContext context)
    {
        var request = context.Request;
        // The Host header as sent: request.Host decodes "xn--" labels (and throws on ones that do not decode).
        var rawHost = request.Headers.Host.ToString();
        if (HttpMethods.IsConnect(request.Method) && !IsWebSocketOverHttp2(context))
        {
            // The edge is never an open proxy. A WebSocket over HTTP/2 (extended CONNECT, RFC 8441) is no tunnel to
            // an address: it goes to the service like an HTTP/1.1 upgrade, and YARP turns it into one toward it.
            Log.Refused(logger, "CONNECT", LogText.Bound(rawHost));
            context.Response.StatusCode = StatusCodes.Status405MethodNotAllowed;
            return;
        }
        foreach (var header in request.Headers)
        {
            // Underscored names can alias dashed ones after normalisation by some backends (identity-header
            // injection, Envoy's headers_with_underscores_action): rejected outright.
            if (header.Key.Contains('_', StringComparison.Ordinal))
            {
                Log.BadHeader(logger, header.Key);
                context.Response.StatusCode = StatusCodes.Status400BadRequest;
                return;
            }
        }
        if (request.Headers.TransferEncoding.Count > 0 && request.Headers.ContainsKey(KestrelRenamedContentLength))
        {
            // Content-Length and Transfer-Encoding together: Kestrel reads the chunked framing, renames the length
            // to X-Content-Length and closes after the response. RFC 9112 §6.3 lets a server refuse instead, and
            // ambiguous framing is what request smuggling is made of: no backend gets such a request.
            Log.AmbiguousFraming(logger, LogText.Bound(rawHost));
            context.Response.StatusCode = StatusCodes.Status400BadRequest;
            return;
        }
        if (!HostNames.TryGetRequestKey(rawHost, out var host))
        {
            Log.BadHost(logger, LogText.Bound(rawHost));
            context.Response.StatusCode = StatusCodes.Status400BadRequest;
            return;
        }
        // The route is resolved once per request: the policy step may have done it already.
        var state = EdgeRequest.Of(context);
        var service = state.RouteResolved ? state.ResolvedService
            : string.IsNullOrEmpty(host) ? null : routes.MatchHttp(host, request.Path.Value ?? "/");
        if (service is null)
        {
            Log.NoRoute(logger, LogText.Bound(rawHost), LogText.Bound(request.Path.Value));
            context.Response.StatusCode = StatusCodes.Status404NotFound;
            return;
        }
        Telemetry.RequestTelemetry.Routed(context, state, service);
        if (service.Control is { } control)
        {
            await ServiceControlAnswer.WriteAsync(context, control).ConfigureAwait(false); // drained or in maintenance: 503 page
            return;
        }
        // No usable session now: wait in the service's grace queue (Routing/GraceQueue.cs) for one, then 503.
        if ((service.PickSession() ?? await service.WaitForSessionAsync(routes.Grace, context.RequestAborted).ConfigureAwait(false)) is not { } session)
        {
            if (routes.HandedOver)
            {
                // The edge handed its sockets over meanwhile: the agent is on the new edge, never coming back here.
                await RefuseHandedOverAsync(context, service).ConfigureAwait(false);
                return;
            }
            Telemetry.RequestTelemetry.Answered(context, Telemetry.EdgeAnswer.NoSession);
            Log.NoSession(logger, service.Name);
            context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
            return;
        }
        // An agent may lower the edge's body-size limit for its service, never raise it: the operator's cap holds
        // against an untrusted agent (docs/security.md).
        if (service.Registration.MaxRequestBodySize is { } maxBody && context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } bodyLimit
            && (bodyLimit.MaxRequestBodySize is null || maxBody < bodyLimit.MaxRequestBodySize))
        {
            bodyLimit.MaxRequestBodySize = maxBody;
        }

        // One client address may hold only so many of the service's slots (limits.max_requests_per_ip_per_service).
        using var slot = await clientShare.AcquireAsync(context, service).ConfigureAwait(false);
        if (slot is null)
        {
            return; // answered 429, or the client left while it waited
        }

        // Kestrel's data rates stop at an upgrade: a WebSocket's only bound is YARP's activity timeout, which restarts
        // on every byte either way. For upgrades it is limits.idle_timeout, not the service's response timeout.
        // An upgrade goes over a stream of its own, without HttpClient's connection (TunnelUpgradeHandler).
        var upgrade = state.Upgradable;
        var forwarderConfig = upgrade ? service.ForwarderConfig with { ActivityTimeout = limits.IdleTimeout } : service.ForwarderConfig;
        HttpMessageInvoker invoker;
        if (upgrade)
        {
            // The upgrade client serves every session: the request names its stream's target (TunnelTransformer puts
            // it in the request's options). A session's own client knows its session (SessionConnector).
            var connection = context.Connection;
            state.Tunnel = new TunnelRequest(service, session, routes.Grace, connection.RemoteIpAddress, connection.RemotePort);
            invoker = client.Upgrades;
        }
        else
        {
            invoker = client.For(session);
        }
        var error = await forwarder.SendAsync(context, service.TunnelDestination, invoker, forwarderConfig, transformer).ConfigureAwait(false);
        if (error == ForwarderError.None)
        {
            return;
        }
        if (ClientAbort.Handle(context, error, service.Name, logger))
        {
            return;
        }
        var exception = context.GetForwarderErrorFeature()?.Exception;
        var tunnel = TunnelErrors.Find(exception);
        if (tunnel is { Code: ErrorCode.NoError or ErrorCode.RefusedStream } && routes.HandedOver && !context.Response.HasStarted)
        {
            // The session went away under the stream's open (never processed: ServiceEntry.OpenStreamAsync), and no
            // other comes to this handed-over edge: the client sends the request again to the new one.
            await RefuseHandedOverAsync(context, service).ConfigureAwait(false);
            return;
        }
        if (tunnel is not null && !context.Response.HasStarted)
        {
            context.Response.StatusCode = tunnel.StatusCode;
        }
        Log.ForwardFailed(logger, service.Name, error, context.Response.StatusCode, tunnel?.Message ?? exception?.Message);
    }

    private const string KestrelRenamedContentLength = "X-Content-Length";

    private Task RefuseHandedOverAsync(HttpContext context, ServiceEntry service)
    {
        Log.HandedOverRefused(logger, service.Name);
        return HandoverGate.RefuseUnprocessedAsync(context);
    }

    private static bool IsWebSocketOverHttp2(HttpContext context) =>
        context.Features.Get<IHttpExtendedConnectFeature>() is { IsExtendedConnect: true, Protocol: var protocol }
        && string.Equals(protocol, "websocket", StringComparison.OrdinalIgnoreCase);

    private static partial class Log
    {
        [LoggerMessage(300, LogLevel.Debug, "No service for host '{Host}' path '{Path}': 404", EventName = "NoRoute")]
        public static partial void NoRoute(ILogger logger, string? host, string? path);

        [LoggerMessage(301, LogLevel.Warning, "Service {Service} has no agent session: 503", EventName = "NoSession")]
        public static partial void NoSession(ILogger logger, string service);

        [LoggerMessage(302, LogLevel.Warning, "Service {Service}: forwarding failed ({Error}) -> {Status}: {Message}", EventName = "ForwardFailed")]
        public static partial void ForwardFailed(ILogger logger, string service, ForwarderError error, int status, string? message);

        [LoggerMessage(304, LogLevel.Information, "Rejected a request with header name '{Header}': underscores are not accepted in header names", EventName = "BadHeader")]
        public static partial void BadHeader(ILogger logger, string header);

        [LoggerMessage(305, LogLevel.Information, "Rejected a request for '{Host}' with both Content-Length and Transfer-Encoding (ambiguous framing)", EventName = "AmbiguousFraming")]
        public static partial void AmbiguousFraming(ILogger logger, string? host);

        [LoggerMessage(307, LogLevel.Information, "Rejected a request with Host '{Host}': not a hostname", EventName = "BadHost")]
        public static partial void BadHost(ILogger logger, string host);

        [LoggerMessage(308, LogLevel.Debug, "Service {Service}: its session here went away under a request after this edge handed its sockets over; refused unprocessed, the client sends it again to the new edge", EventName = "HandoverRefusedLate")]
        public static partial void HandedOverRefused(ILogger logger, string service);

        [LoggerMessage(303, LogLevel.Information, "Refused {Method} for '{Host}': the edge is not a forward proxy", EventName = "ProxyRefused")]
        public static partial void Refused(ILogger logger, string method, string? host);
    }
}
