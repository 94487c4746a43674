using System.Globalization;
using Microsoft.AspNetCore.Http;
using Microsoft.Net.Http.Headers;
using Warren.Edge.Forwarding;

namespace Warren.Edge.Shield;

/// <summary>
/// The abuse shield's step on the public request path, first after telemetry (docs/policy.md, "Abuse shield"): while
/// nobody is banned it is one volatile read; otherwise a request from a banned address (the peer, or the client a
/// trusted proxy names) gets <c>403</c> with <c>Retry-After</c> and <c>Connection: close</c>, whatever service it is
/// for, and nothing reaches a service.
/// </summary>
internal sealed class ShieldMiddleware(AbuseShield shield, TrustedProxies trusted)
{
    private static readonly byte[] Body = "Your address is banned for a while after repeated refused requests.\n"u8.ToArray();

    public RequestDelegate Wrap(RequestDelegate next) => context => shield.Count == 0 ? next(context) : InvokeAsync(context, next);

    private Task InvokeAsync(HttpContext context, RequestDelegate next)
    {
        if (!shield.IsBanned(trusted.ClientOf(context), out var ban))
        {
            return next(context);
        }
        shield.Metrics?.Refused(ShieldRefusal.Http);
        var response = context.Response;
        response.StatusCode = StatusCodes.Status403Forbidden;
        var seconds = Math.Max(1, (long)Math.Ceiling((ban.Until - shield.Now).TotalSeconds));
        response.Headers.RetryAfter = seconds.ToString(CultureInfo.InvariantCulture);
        response.Headers[HeaderNames.Connection] = "close";
        response.ContentType = "text/plain; charset=utf-8";
        response.ContentLength = Body.Length;
        return response.Body.WriteAsync(Body, context.RequestAborted).AsTask();
    }
}
