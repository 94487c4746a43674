using System.Diagnostics;
using Microsoft.AspNetCore.Http;
using Warren.Edge.Forwarding;
using Warren.Edge.Routing;
using Warren.Protocol.Framing;
using Yarp.ReverseProxy.Forwarder;

namespace Warren.Edge.Telemetry;

/// <summary>
/// Wraps the public request path: a few counter and histogram updates on the service's cached children, and one
/// access-log line per request. The forwarding middleware names the service it routed to in the request's
/// <see cref="EdgeRequest"/>; without one the request was answered by the edge itself (404, 405, 400).
/// </summary>
internal sealed class RequestTelemetry(EdgeMetrics metrics, AccessLogWriter accessLog)
{
    private readonly AccessLogWriter _access = accessLog;
    private readonly EdgeMetrics _metrics = metrics;

    /// <summary>The console's request log, live charts, accounting and inspector (docs/console.md); null: none.</summary>
    internal Dashboard.EdgeConsole? Recorder { get; init; }

    public RequestDelegate Wrap(RequestDelegate next) => async context =>
    {
        var started = Stopwatch.GetTimestamp();
        var bytes = context.Features.Get<ConnectionBytes>();
        long received = bytes?.Received ?? 0, sent = bytes?.Sent ?? 0;
        var state = EdgeRequest.Start(context, this);
        try
        {
            await next(context).ConfigureAwait(false);
        }
        finally
        {
            var status = context.Response.StatusCode;
            var entry = state.Service;
            var elapsed = Stopwatch.GetElapsedTime(started);
            var upgraded = state.Upgradable && IsUpgraded(context, status);
            long bytesIn, bytesOut;
            if (bytes is not null && context.Request.Protocol != "HTTP/2")
            {
                bytesIn = bytes.Received - received;
                bytesOut = bytes.Sent - sent;
            }
            else
            {
                bytesIn = context.Request.ContentLength ?? 0;
                bytesOut = context.Response.ContentLength ?? 0;
            }
            var kind = ErrorKind.None;
            if (entry is not null)
            {
                var service = _metrics.For(entry);
                service.Active.Dec();
                service.CountStatus(status);
                kind = Classify(context, state, status);
                service.CountError(kind);
                if (state.Answer?.Rejection is { } rejection)
                {
                    service.CountRejected(rejection);
                }
                service.Duration.Observe(elapsed.TotalSeconds);
                service.BytesIn.Inc(bytesIn);
                service.BytesOut.Inc(bytesOut);
                if (upgraded)
                {
                    service.Upgraded.Inc();
                }
            }
            else
            {
                (status switch
                {
                    StatusCodes.Status404NotFound => _metrics.NoRoute,
                    StatusCodes.Status405MethodNotAllowed => _metrics.MethodNotAllowed,
                    StatusCodes.Status400BadRequest => _metrics.BadHeader,
                    _ => _metrics.OtherUnrouted,
                }).Inc();
            }
            Recorder?.Http(context, state, status, elapsed, bytesIn, bytesOut, kind, upgraded);
            if (_access.Enabled)
            {
                // Queued, not written: AccessLogWriter formats and writes it off the socket thread.
                var request = context.Request;
                _access.Write(AccessEntry.Http(entry?.Name ?? "-", request.Method, request.Headers.Host.ToString(), request.Path.Value ?? "/", status,
                    elapsed.TotalMilliseconds, bytesIn, bytesOut, context.Connection.RemoteIpAddress, entry));
            }
        }
    };

    /// <summary>Called by the forwarding middleware once it knows the service, so in-flight gauges cover the forward.</summary>
    public static void Routed(HttpContext context, ServiceEntry service) => Routed(context, EdgeRequest.Find(context), service);

    /// <inheritdoc cref="Routed(HttpContext, ServiceEntry)"/>
    public static void Routed(HttpContext context, EdgeRequest? state, ServiceEntry service)
    {
        if (state?.Telemetry is { } telemetry)
        {
            state.Service = service;
            var metrics = telemetry._metrics.For(service);
            metrics.Active.Inc();
            if (state.Upgradable)
            {
                // Open while the upgraded connection lives: counted when the 101 (or for HTTP/2 the 200) goes out,
                // until the request ends.
                context.Response.OnStarting(static state =>
                {
                    var (ctx, m) = ((HttpContext, ServiceMetrics))state;
                    if (IsUpgraded(ctx, ctx.Response.StatusCode))
                    {
                        m.UpgradedOpen.Inc();
                        ctx.Response.RegisterForDispose(new UpgradeClosed(m));
                    }
                    return Task.CompletedTask;
                }, (context, metrics));
            }
        }
    }

    /// <summary>Whether an upgradable request's answer switched it: 101 for HTTP/1.1, 200 to an extended CONNECT.</summary>
    private static bool IsUpgraded(HttpContext context, int status) =>
        status == (context.Request.Protocol == "HTTP/2" ? StatusCodes.Status200OK : StatusCodes.Status101SwitchingProtocols);

    private sealed class UpgradeClosed(ServiceMetrics metrics) : IDisposable
    {
        public void Dispose() => metrics.UpgradedOpen.Dec();
    }

    /// <summary>Called by the forwarding middleware when it answers a routed request itself (no static instance allocates).</summary>
    public static void Answered(HttpContext context, EdgeAnswer answer) => EdgeRequest.Of(context).Answer = answer;

    /// <summary>Maps how a routed request failed to the fixed error kinds.</summary>
    internal static ErrorKind Classify(HttpContext context, EdgeRequest? state, int status)
    {
        if (state?.Answer is { } answer)
        {
            return answer.Kind;
        }
        var error = context.GetForwarderErrorFeature();
        if (error is null || error.Error == ForwarderError.None)
        {
            return ErrorKind.None;
        }
        if (ClientAbort.IsClientGone(context, error.Error))
        {
            // The client went away: not the service's error. After a 101 it is how a WebSocket ends.
            return status == StatusCodes.Status101SwitchingProtocols ? ErrorKind.None : ErrorKind.ClientAbort;
        }
        if (TunnelErrors.Find(error.Exception) is { } tunnel)
        {
            return TunnelErrors.Of(tunnel.Code).Kind;
        }
        return error.Error switch
        {
            ForwarderError.RequestTimedOut or ForwarderError.UpgradeActivityTimeout => ErrorKind.Timeout,
            _ when status == StatusCodes.Status413PayloadTooLarge => ErrorKind.PolicyDenied,
            _ => ErrorKind.Reset,
        };
    }
}

/// <summary>Marks a response the edge produced itself for a routed service (no session), so a backend's own 503 is not counted as no_session.</summary>
internal sealed class EdgeAnswer(ErrorKind kind, ClientRejection? rejection = null)
{
    public static readonly EdgeAnswer NoSession = new(ErrorKind.NoSession);

    /// <summary>Refused unprocessed by an edge that handed its sockets over: the client sends it again to the new edge (no service error).</summary>
    public static readonly EdgeAnswer HandedOver = new(ErrorKind.None);

    /// <summary>429: the client's address had too many requests in progress to the service (no service error).</summary>
    public static readonly EdgeAnswer ClientLimit = new(ErrorKind.None, ClientRejection.PerIpLimit);

    public ErrorKind Kind { get; } = kind;

    /// <summary>Set when the request was refused for the client's own limit: counted in warren_service_rejected_total.</summary>
    public ClientRejection? Rejection { get; } = rejection;
}
