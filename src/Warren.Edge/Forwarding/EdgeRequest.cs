using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Warren.Edge.Inspector;
using Warren.Edge.Policy;
using Warren.Edge.Routing;
using Warren.Edge.Telemetry;

namespace Warren.Edge.Forwarding;

/// <summary>
/// What the public request path learns about one request, in one request feature that every step shares: the route
/// the policy step resolved, the service it was routed to, where an upgrade's tunnel stream goes, its policy, the edge's own
/// answer and the inspector's capture. Kestrel finds its own features by type tests, but one of ours sits in a list
/// behind them, and a lookup that misses falls through to the connection's features: a dozen such lookups were about
/// 3 % of the edge's CPU per request (docs/performance.md, "One state object per request"). Made by the telemetry
/// wrapper (<see cref="RequestTelemetry"/>) before any other step, or by the first step that needs it where no
/// wrapper runs (<see cref="Of"/>).
/// </summary>
internal sealed class EdgeRequest
{
    /// <summary>The request's state, or null when no step made one yet.</summary>
    public static EdgeRequest? Find(HttpContext context) => context.Features.Get<EdgeRequest>();

    /// <summary>The request's state, made now if no step made one yet.</summary>
    public static EdgeRequest Of(HttpContext context) => Find(context) ?? Start(context, telemetry: null);

    /// <summary>Makes <paramref name="context"/>'s state and sets it as a request feature.</summary>
    internal static EdgeRequest Start(HttpContext context, RequestTelemetry? telemetry)
    {
        var state = new EdgeRequest(telemetry, IsUpgradable(context));
        context.Features.Set(state);
        return state;
    }

    private EdgeRequest(RequestTelemetry? telemetry, bool upgradable)
    {
        Telemetry = telemetry;
        Upgradable = upgradable;
    }

    /// <summary>The wrapper that counts the request; null where none runs.</summary>
    public RequestTelemetry? Telemetry { get; }

    /// <summary>An HTTP/1.1 upgrade request, or a WebSocket over HTTP/2 (extended CONNECT, RFC 8441).</summary>
    public bool Upgradable { get; }

    /// <summary>Whether the policy step matched the route already (<see cref="ResolvedService"/>, null when nothing matched).</summary>
    public bool RouteResolved { get; private set; }

    /// <summary>The policy step's match, so the steps after it need not match the Host and path again.</summary>
    public ServiceEntry? ResolvedService { get; private set; }

    /// <summary>The service the request is counted against (<see cref="RequestTelemetry.Routed"/>); null: answered by the edge itself.</summary>
    public ServiceEntry? Service { get; set; }

    /// <summary>Where an upgrade's tunnel stream goes, once the forwarding step picked a session (other requests go through their session's client).</summary>
    public TunnelRequest? Tunnel { get; set; }

    /// <summary>The service's policy, once the request passed it: the transformer applies its rewrites.</summary>
    public ServicePolicy? Policy { get; set; }

    /// <summary>Set when the edge answered a routed request itself (no session, a limit, a refusal).</summary>
    public EdgeAnswer? Answer { get; set; }

    /// <summary>The inspector's capture of this request, when its service is inspected.</summary>
    public Capture? Capture { get; set; }

    public void Resolve(ServiceEntry? service)
    {
        RouteResolved = true;
        ResolvedService = service;
    }

    private static bool IsUpgradable(HttpContext context) =>
        context.Features.Get<IHttpUpgradeFeature>() is { IsUpgradableRequest: true }
        || (HttpMethods.IsConnect(context.Request.Method) && context.Features.Get<IHttpExtendedConnectFeature>() is { IsExtendedConnect: true });
}
