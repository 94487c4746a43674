using Microsoft.AspNetCore.Http;
using Warren.Edge.Limits;
using Warren.Edge.Routing;
using Warren.Edge.Telemetry;

namespace Warren.Edge.Forwarding;

/// <summary>
/// limits.max_requests_per_ip_per_service on the request path (docs/security.md "Slow clients"): an agent serves a
/// service with a fixed number of slots, and one address holding them all with slow requests made the service answer
/// 503 to everyone. Each client gets a share of each service (an upgraded WebSocket counts for its whole life); the
/// client is the one the policies judge: behind a trusted proxy, the client it names. Over the share a request waits
/// its turn (<see cref="ClientRequestLimiter"/>), then gets 429 with a one-line body, counted per service as
/// warren_service_rejected_total{reason="per_ip_limit"}, not as a service error.
/// </summary>
internal sealed class ClientShare(ClientRequestLimiter limiter, TrustedProxies trusted)
{
    private const string Body = "429 Too Many Requests: your address has too many requests in progress to this service; retry later\n";

    /// <summary>
    /// Takes the client's place in <paramref name="service"/>'s share; hold it until the request is done. Null: the
    /// request has been answered (429), or the client went away while it waited.
    /// </summary>
    public async ValueTask<IDisposable?> AcquireAsync(HttpContext context, ServiceEntry service)
    {
        if (trusted.ClientOf(context) is not { } client)
        {
            return NoShare.Instance;
        }
        if (await limiter.AcquireAsync(service.Id, client, context.RequestAborted).ConfigureAwait(false) is { } lease)
        {
            return lease;
        }
        if (!context.RequestAborted.IsCancellationRequested)
        {
            RequestTelemetry.Answered(context, EdgeAnswer.ClientLimit);
            context.Response.StatusCode = StatusCodes.Status429TooManyRequests;
            context.Response.Headers.RetryAfter = "1";
            context.Response.ContentType = "text/plain; charset=utf-8";
            try
            {
                await context.Response.WriteAsync(Body, context.RequestAborted).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // the client left while reading the refusal
            }
        }
        return null;
    }

    private sealed class NoShare : IDisposable
    {
        public static readonly NoShare Instance = new();

        public void Dispose()
        {
        }
    }
}
