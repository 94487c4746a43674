using System.Collections.Concurrent;
using System.Net;
using System.Net.Http;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;
using Warren.Configuration;
using Warren.Edge.Forwarding;
using Warren.Edge.Routing;
using Warren.Protocol.Session;
using Yarp.ReverseProxy.Forwarder;

namespace Warren.Edge.Cluster;

/// <summary>
/// Any edge serves any service (docs/cluster.md, "Forwarding"). The first step of a clustered edge's request path:
/// a request for a hostname that no session on this edge serves, but another edge's heartbeat says it does, goes to
/// that edge over a peer stream (<see cref="PeerLink"/>), and that edge runs its own whole pipeline for it (policy,
/// request log, grace queue, forwarding to its agent) with the client's address. A request that came from another
/// edge (<see cref="PeerOrigin"/>) is never forwarded again, so a loop A→B→A cannot happen: it is served here or
/// answered here (503 after the grace queue). Everything else goes on to this edge's own path untouched; an edge
/// without <c>cluster:</c> has no such step at all.
/// </summary>
internal sealed partial class PeerForwarder : IAsyncDisposable
{
    /// <summary>The client's "address:port", set by the forwarding edge and read by the holding edge only on a peer stream.</summary>
    public const string ClientHeader = "X-Warren-Peer-Client";

    /// <summary>On a 503 from a draining holding edge that has no session for the request any more: the forwarding edge tries the next one.</summary>
    public const string UnservedHeader = "X-Warren-Peer-Unserved";

    private readonly ClusterConnection _cluster;
    private readonly RouteTable _routes;
    private readonly IHttpForwarder _forwarder;
    private readonly SessionOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly ConcurrentDictionary<string, PeerLink> _links = new(StringComparer.Ordinal);
    private readonly ForwarderRequestConfig _config;
    private ClusterRegistry? _registry;
    private int _cursor;

    private readonly Func<bool> _draining;

    /// <summary>Whether links to other edges offer sealed records (agent_tls.sealed_records); false keeps them on TLS.</summary>
    public bool SealedRecords { get; init; } = true;

    public PeerForwarder(ClusterConnection cluster, RouteTable routes, IHttpForwarder forwarder, SessionOptions options, TimeProvider time, Func<bool> draining, ILogger logger)
    {
        _draining = draining;
        _cluster = cluster;
        _routes = routes;
        _forwarder = forwarder;
        _options = options;
        _time = time;
        _logger = logger;
        _config = new ForwarderRequestConfig
        {
            Version = HttpVersion.Version11,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            // The holding edge times the request (the service's response timeout, limits.idle_timeout for upgrades)
            // and answers 504 itself; a dead holding edge is found by the peer session's keepalive.
            ActivityTimeout = ServiceRules.MaxResponseTimeout,
        };
    }

    /// <summary>What other edges serve, from the registry.</summary>
    public PeerRoutes Routes { get; } = new();

    /// <summary>The registry the peers' addresses and fingerprints come from; set once it runs (until then nothing is forwarded).</summary>
    public void Attach(ClusterRegistry registry)
    {
        _registry = registry;
        registry.Changed += OnRegistryChanged;
        OnRegistryChanged();
    }

    private void OnRegistryChanged()
    {
        if (_registry is not { } registry)
        {
            return;
        }
        var edges = registry.Edges;
        Routes.Update(edges.Values, _cluster.EdgeName);
        foreach (var (name, link) in _links)
        {
            if (!edges.ContainsKey(name) && _links.TryRemove(new KeyValuePair<string, PeerLink>(name, link)))
            {
                _ = link.DisposeAsync().AsTask(); // the edge left: its session goes with it
            }
        }
    }

    /// <summary>The session to edge <paramref name="name"/>, dialed on first use.</summary>
    public PeerLink Link(string name) => _links.GetOrAdd(name, static (n, self) => new PeerLink(n, self._cluster, self._options,
        () => self._registry?.Edges.GetValueOrDefault(n) is { } e ? (e.Advertise, e.Fingerprint) : null, self._time, self._logger)
        { SealedRecords = self.SealedRecords }, this);

    public RequestDelegate Wrap(RequestDelegate next) => context =>
        context.Features.Get<PeerOrigin>() is { } origin ? FromPeer(context, origin, next) : Route(context, next);

    /// <summary>
    /// A request another edge forwarded: its client's address and scheme as that edge saw them, then this edge's path.
    /// A draining edge with no usable session for it (its agents got GOAWAY too) answers at once with
    /// <see cref="UnservedHeader"/>, so the forwarding edge takes it to another edge instead of this one's grace queue.
    /// </summary>
    private Task FromPeer(HttpContext context, PeerOrigin origin, RequestDelegate next)
    {
        var request = context.Request;
        request.Scheme = origin.Scheme;
        if (request.Headers.Remove(ClientHeader, out var client) && IPEndPoint.TryParse(client.ToString(), out var address))
        {
            context.Connection.RemoteIpAddress = address.Address;
            context.Connection.RemotePort = address.Port;
        }
        if (_draining() && HostNames.TryGetRequestKey(request.Headers.Host.ToString(), out var host) && host.Length > 0
            && _routes.MatchHttp(host, request.Path.Value ?? "/") is var local && (local is null || (local.Control is null && !HasUsableSession(local))))
        {
            context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
            context.Response.Headers[UnservedHeader] = "draining";
            return Task.CompletedTask;
        }
        // Only this edge may send the bounce: a backend's response carrying the header would make the forwarding edge
        // send the request again elsewhere.
        context.Response.OnStarting(static response =>
        {
            ((HttpResponse)response).Headers.Remove(UnservedHeader);
            return Task.CompletedTask;
        }, context.Response);
        return next(context);
    }

    private Task Route(HttpContext context, RequestDelegate next)
    {
        var request = context.Request;
        if (!HostNames.TryGetRequestKey(request.Headers.Host.ToString(), out var host) || host.Length == 0
            || (HttpMethods.IsConnect(request.Method) && context.Features.Get<IHttpExtendedConnectFeature>() is not { IsExtendedConnect: true }))
        {
            return next(context); // answered by this edge's own path (400, 405)
        }
        var path = request.Path.Value ?? "/";
        var edges = Routes.MatchHttp(host, path);
        if (edges.Length == 0)
        {
            // No other edge serves it: this edge's session, grace queue, 503 or 404; but a hostname the cluster knows
            // and nobody serves right now (an agent restarts on another edge) waits for a session anywhere, then 503.
            return Routes.IsKnown(host, path) && _routes.MatchHttp(host, path) is null ? WaitForHolderAsync(context, host, path, next) : next(context);
        }
        var local = _routes.MatchHttp(host, path);
        if (local is not null && (local.Control is not null || HasUsableSession(local)))
        {
            return next(context); // served here (or drained here by its operator)
        }
        return ForwardAsync(context, host, edges, local is not null, next);
    }

    /// <summary>
    /// The cluster's grace queue (docs/operations.md, "The grace queue"): waits up to grace.timeout for an edge, this one
    /// or another, to hold a session for the route; at most grace.max_waiting requests wait here, the others get 503 at once.
    /// </summary>
    private async Task WaitForHolderAsync(HttpContext context, string host, string path, RequestDelegate next)
    {
        var grace = _routes.Grace;
        if (Interlocked.Increment(ref _waiting) > grace.MaxWaiting || grace.Timeout <= TimeSpan.Zero)
        {
            Interlocked.Decrement(ref _waiting);
            Log.NoPeer(_logger, LogText.Bound(host), "no edge holds a session for it now");
            context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
            return;
        }
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted);
            timeout.CancelAfter(grace.Timeout);
            while (true)
            {
                var updated = Routes.Updated;
                var edges = Routes.MatchHttp(host, path);
                if (edges.Length > 0 || _routes.MatchHttp(host, path) is not null)
                {
                    await Route(context, next).ConfigureAwait(false); // a session somewhere, or the route here again
                    return;
                }
                try
                {
                    // The local route table has no event to wait on here; a registration on this edge changes its
                    // heartbeat, which rebuilds the peers' view too, so waking on that covers both.
                    await updated.WaitAsync(timeout.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    if (!context.RequestAborted.IsCancellationRequested)
                    {
                        Log.NoPeer(_logger, LogText.Bound(host), $"no edge held a session for it within grace.timeout ({grace.Timeout.TotalSeconds:0.#} s)");
                        context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
                    }
                    return;
                }
            }
        }
        finally
        {
            Interlocked.Decrement(ref _waiting);
        }
    }

    private int _waiting;

    private static bool HasUsableSession(ServiceEntry service)
    {
        foreach (var session in service.Sessions)
        {
            if (session.IsUsable)
            {
                return true;
            }
        }
        return false;
    }

    private async Task ForwardAsync(HttpContext context, string host, string[] edges, bool knownHere, RequestDelegate next)
    {
        var start = (uint)Interlocked.Increment(ref _cursor);
        string? failure = null;
        for (var i = 0; i < edges.Length; i++)
        {
            var link = Link(edges[(int)((start + (uint)i) % (uint)edges.Length)]);
            if (!link.IsAvailable)
            {
                failure ??= $"edge {link.Name} is unreachable";
                continue;
            }
            HttpMessageInvoker http;
            try
            {
                http = await link.HttpAsync(context.RequestAborted).ConfigureAwait(false);
            }
            catch (PeerUnavailableException ex)
            {
                failure = ex.Message;
                continue;
            }
            catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
            {
                return;
            }
            var destination = context.Request.IsHttps ? "http://https.peer/" : "http://http.peer/";
            var error = await _forwarder.SendAsync(context, destination, http, _config, PeerTransformer.Instance).ConfigureAwait(false);
            if (error == ForwarderError.None && context.Items.Remove(UnservedHeader) && !context.Response.HasStarted)
            {
                failure = $"edge {link.Name} drains and no longer serves it";
                context.Response.Clear();
                continue;
            }
            if (error == ForwarderError.None)
            {
                Log.Forwarded(_logger, LogText.Bound(host), link.Name);
                return;
            }
            var exception = context.GetForwarderErrorFeature()?.Exception;
            if (!context.Response.HasStarted && (Find<PeerUnavailableException>(exception) is not null
                || (error == ForwarderError.Request && !context.RequestAborted.IsCancellationRequested && IsReplayable(context.Request))))
            {
                // Refused before anything of the request was sent (the peer drains, or its session just ended), or a
                // request without a body that may be repeated got no response at all (a keep-alive connection the
                // draining peer closed as it was sent: what a load balancer's retry-on empty-response covers): the
                // next edge that holds the service takes it.
                failure = exception?.Message ?? error.ToString();
                context.Response.Clear();
                context.Features.Set<IForwarderErrorFeature>(null);
                continue;
            }
            if (ClientAbort.Handle(context, error, host, _logger))
            {
                return;
            }
            Log.ForwardFailed(_logger, LogText.Bound(host), link.Name, error, context.Response.StatusCode, exception?.Message);
            return;
        }
        if (knownHere)
        {
            await next(context).ConfigureAwait(false); // this edge knows the service: its grace queue, then 503
            return;
        }
        // The cluster serves this hostname but no edge that holds it can be reached now: 503, never 404 (nor a loop).
        Log.NoPeer(_logger, LogText.Bound(host), failure ?? "no edge holds a session");
        context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
    }

    /// <summary>A request that may be sent again: an idempotent method without a body (RFC 9110 §9.2.2).</summary>
    private static bool IsReplayable(HttpRequest request) =>
        (HttpMethods.IsGet(request.Method) || HttpMethods.IsHead(request.Method) || HttpMethods.IsOptions(request.Method))
        && request.ContentLength is null or 0 && !request.Headers.ContainsKey("Transfer-Encoding");

    private static T? Find<T>(Exception? exception) where T : Exception
    {
        for (var e = exception; e is not null; e = e.InnerException)
        {
            if (e is T found)
            {
                return found;
            }
        }
        return null;
    }

    public async ValueTask DisposeAsync()
    {
        if (_registry is { } registry)
        {
            registry.Changed -= OnRegistryChanged;
        }
        foreach (var link in _links.Values)
        {
            await link.DisposeAsync().ConfigureAwait(false);
        }
        _links.Clear();
    }

    private static partial class Log
    {
        [LoggerMessage(1780, LogLevel.Debug, "Cluster: request for {Host} forwarded to edge {Peer}", EventName = "ClusterForwarded")]
        public static partial void Forwarded(ILogger logger, string? host, string peer);

        [LoggerMessage(1781, LogLevel.Warning, "Cluster: request for {Host} forwarded to edge {Peer} failed ({Error}) -> {Status}: {Message}", EventName = "ClusterForwardFailed")]
        public static partial void ForwardFailed(ILogger logger, string? host, string peer, ForwarderError error, int status, string? message);

        [LoggerMessage(1782, LogLevel.Warning, "Cluster: request for {Host}: no edge holding it could take it ({Reason}) -> 503", EventName = "ClusterNoPeer")]
        public static partial void NoPeer(ILogger logger, string? host, string reason);
    }
}
