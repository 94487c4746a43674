using System.Collections.Frozen;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Warren.Configuration;
using Warren.Edge.Dashboard;
using Warren.Edge.Forwarding;
using Warren.Edge.Policy;
using Warren.Edge.Routing;
using Warren.Net.Collections;

namespace Warren.Edge.Inspector;

/// <summary>
/// The console's inspector (docs/console.md, "Inspector"): for services the operator turned it on for (edge.yaml
/// <c>inspector.services</c> or the service's page), the request and response headers and the first
/// <c>inspector.max_body</c> bytes of each body of the last <c>inspector.max_requests</c> exchanges, in memory only;
/// WebSocket messages (direction, type, size, time); TCP connections' timelines. Sensitive headers are masked
/// before anything is kept (their values never reach memory the console can show), unless
/// <c>inspector.show_headers</c> names them. Services not inspected pay one null check per request.
/// </summary>
internal sealed class RequestInspector(InspectorConfig config, TimeProvider time)
{
    public const string Masked = "(masked)";

    /// <summary>Credentials and session cookies: never kept unless the operator lists them in show_headers.</summary>
    private static readonly string[] SensitiveHeaders = ["Authorization", "Proxy-Authorization", "Cookie", "Set-Cookie", "X-Api-Key", "X-Auth-Token"];

    private readonly FrozenSet<string> _shown = config.ShowHeaders.ToFrozenSet(StringComparer.OrdinalIgnoreCase);
    private readonly RarelyWrittenDictionary<string, bool> _enabled = Enabled(config.Services);

    /// <summary>True while some service is inspected: only then does the request path look (read per request).</summary>
    public bool Any => !_enabled.IsEmpty;

    public int MaxBody => (int)config.MaxBody;

    public bool IsEnabled(string service) => _enabled.ContainsKey(service);

    private static RarelyWrittenDictionary<string, bool> Enabled(IEnumerable<string> services)
    {
        var enabled = new RarelyWrittenDictionary<string, bool>(StringComparer.Ordinal);
        foreach (var service in services)
        {
            enabled.Set(service, true);
        }
        return enabled;
    }

    /// <summary>Turns inspection of a service on or off (the console's toggle); captures already kept stay until replaced.</summary>
    public void Set(ServiceStats? stats, string service, bool on)
    {
        if (on)
        {
            _enabled.Set(service, true);
        }
        else
        {
            _enabled.Remove(service);
        }
        if (stats is not null)
        {
            Attach(stats);
        }
    }

    /// <summary>Gives a service's stats its capture ring when inspected (a ring survives off/on so captures stay visible).</summary>
    public void Attach(ServiceStats stats)
    {
        if (IsEnabled(stats.Entry.Name))
        {
            stats.Captures ??= new CaptureRing(config.MaxRequests);
            stats.Inspecting = true;
        }
        else
        {
            stats.Inspecting = false;
        }
    }

    /// <summary>
    /// Starts capturing an HTTP request of an inspected service: headers now (masked), and the bodies and any
    /// WebSocket messages as they pass, through wrapped streams. Completed by <see cref="Complete"/>.
    /// </summary>
    public Capture Begin(HttpContext context, ServiceStats stats, long id)
    {
        var request = context.Request;
        var state = EdgeRequest.Of(context);
        var policy = state.Policy ?? stats.Entry.Policy;
        var capture = new Capture(id, time.GetUtcNow(), stats.Entry.Name, "http", MaxBody)
        {
            Method = request.Method,
            Scheme = request.Scheme,
            Host = request.Headers.Host.ToString(),
            PathAndQuery = request.Path.Value + request.QueryString.Value,
            Client = context.Connection.RemoteIpAddress?.ToString(),
            RequestHeaders = Headers(request.Headers, policy),
        };
        stats.Captures!.Add(capture);
        state.Capture = capture;
        request.Body = new CaptureStream(request.Body, capture.RequestBody.Append, null);
        context.Response.Body = new CaptureStream(context.Response.Body, null, capture.ResponseBody.Append);
        if (context.Features.Get<IHttpUpgradeFeature>() is { IsUpgradableRequest: true } upgrade)
        {
            context.Features.Set<IHttpUpgradeFeature>(new InspectingUpgradeFeature(upgrade, capture, time));
        }
        else if (context.Features.Get<IHttpExtendedConnectFeature>() is { IsExtendedConnect: true } connect)
        {
            context.Features.Set<IHttpExtendedConnectFeature>(new InspectingExtendedConnectFeature(connect, capture, time));
        }
        return capture;
    }

    /// <summary>The end of an inspected HTTP request: status, response headers, duration, error.</summary>
    public void Complete(HttpContext context, Capture capture, int status, double durationMs, long bytesIn, long bytesOut, string error)
    {
        capture.Status = status;
        capture.ResponseHeaders = Headers(context.Response.Headers, EdgeRequest.Find(context)?.Policy);
        (capture.DurationMs, capture.BytesIn, capture.BytesOut, capture.Error) = (durationMs, bytesIn, bytesOut, error);
    }

    /// <summary>Headers as kept: sensitive ones (and a policy's identity headers) replaced by <see cref="Masked"/>.</summary>
    private List<KeyValuePair<string, string>> Headers(IHeaderDictionary headers, ServicePolicy? policy)
    {
        var kept = new List<KeyValuePair<string, string>>(headers.Count);
        foreach (var (name, values) in headers)
        {
            kept.Add(KeyValuePair.Create(name, IsSensitive(name, policy) ? Masked : values.ToString()));
        }
        return kept;
    }

    private bool IsSensitive(string name, ServicePolicy? policy) =>
        (SensitiveHeaders.Contains(name, StringComparer.OrdinalIgnoreCase) || (policy?.IdentityHeaders.Contains(name, StringComparer.OrdinalIgnoreCase) ?? false))
        && !_shown.Contains(name);
}
