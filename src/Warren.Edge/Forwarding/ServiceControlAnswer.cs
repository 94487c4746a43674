using System.Globalization;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Http;
using Microsoft.Net.Http.Headers;
using Warren.Edge.Routing;
using Warren.Edge.Telemetry;

namespace Warren.Edge.Forwarding;

/// <summary>
/// What a client gets from a service the operator drains or holds in maintenance (docs/operations.md, "Draining a
/// service and maintenance"): 503 with <c>Retry-After</c>, never cached, and a short page saying why (HTML for a
/// browser, plain text otherwise). Nothing is sent to the agent and the request's body is never read. Called by
/// TunnelForwardingMiddleware right after routing, so the answer is counted under the service.
/// </summary>
internal static class ServiceControlAnswer
{
    /// <summary>An operator's choice, not the service failing: counted by status, not as a service error.</summary>
    private static readonly EdgeAnswer Held = new(ErrorKind.None);

    public static Task WriteAsync(HttpContext context, ServiceControl control)
    {
        RequestTelemetry.Answered(context, Held);
        var response = context.Response;
        response.StatusCode = StatusCodes.Status503ServiceUnavailable;
        var retryAfter = (long)Math.Ceiling(control.RetryAfter.TotalSeconds);
        response.Headers.RetryAfter = retryAfter.ToString(CultureInfo.InvariantCulture);
        response.Headers.CacheControl = "no-store";
        if (HttpMethods.IsHead(context.Request.Method))
        {
            return Task.CompletedTask;
        }
        var host = context.Request.Headers.Host.ToString();
        var why = control.State == ServiceState.Maintenance ? "is down for maintenance" : "is not taking new requests right now";
        var wait = retryAfter < 120 ? $"{retryAfter} seconds" : $"{(retryAfter + 59) / 60} minutes";
        if (WantsHtml(context.Request))
        {
            var encoder = HtmlEncoder.Default;
            var message = control.Message is { Length: > 0 } m ? $"<p>{encoder.Encode(m)}</p>" : "";
            response.ContentType = "text/html; charset=utf-8";
            response.Headers.ContentSecurityPolicy = "default-src 'none'";
            return response.WriteAsync($"""
                <!doctype html>
                <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
                <title>503 Service Unavailable</title></head>
                <body><h1>503 Service Unavailable</h1>
                <p>{encoder.Encode(host)} {why}. Please try again in about {wait}.</p>
                {message}
                </body></html>

                """);
        }
        response.ContentType = "text/plain; charset=utf-8";
        return response.WriteAsync($"503 Service Unavailable: {host} {why}. Retry after {retryAfter} s.\n{(control.Message is { Length: > 0 } text ? text + "\n" : "")}");
    }

    private static bool WantsHtml(HttpRequest request)
    {
        foreach (var value in request.Headers.Accept)
        {
            if (value is not null && value.Contains("text/html", StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }
        return false;
    }
}
