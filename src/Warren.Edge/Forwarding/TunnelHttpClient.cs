using System.Collections.Concurrent;
using System.Net.Http;
using Warren.Edge.Agents;
using Warren.Edge.Routing;

namespace Warren.Edge.Forwarding;

/// <summary>
/// The HTTP clients the forwarder sends through (<see cref="TunnelHttpClientFactory"/>), one per agent session. Their
/// pooled keep-alive connections are open tunnel streams, and a session that goes away (agent or edge shutting down,
/// a drain) cannot finish while any of its streams is open: idle pooled connections held every SIGTERM for the whole
/// grace period. So each session's connections live in that session's own client, which is retired when the session
/// goes away: requests in flight finish, idle connections close, and no other session's pool is touched (one client
/// for everything used to be replaced whole, and every service on every session paid new streams for it).
/// A request routed to a session takes that session's client, so requests spread over a service's sessions per
/// request rather than per pooled connection.
/// </summary>
internal sealed class TunnelHttpClient(TimeSpan openTimeout, RouteTable routes) : IDisposable
{
    /// <summary>A request that took a session's client just before it was retired has this long to start sending on it.</summary>
    private static readonly TimeSpan RetireDelay = TimeSpan.FromSeconds(1);

    private readonly ConcurrentDictionary<HttpMessageInvoker, byte> _live = new();

    /// <summary>
    /// The client for upgrade requests (WebSockets), on every session: each has a stream of its own and keeps no pooled
    /// connection, so there is nothing to retire with a session (<see cref="TunnelUpgradeHandler"/>).
    /// </summary>
    public HttpMessageInvoker Upgrades { get; } = new(new TunnelUpgradeHandler(openTimeout), disposeHandler: true);
    private volatile bool _disposed;

    /// <summary>The client whose connections are streams on <paramref name="session"/>; made on the session's first request.</summary>
    public HttpMessageInvoker For(AgentSession session) => Volatile.Read(ref session.HttpInvoker) ?? Create(session);

    /// <summary>Clients alive now (tests; one per session that has sent a request and not gone away).</summary>
    public int LiveCount => _live.Count;

    private HttpMessageInvoker Create(AgentSession session)
    {
        var created = TunnelHttpClientFactory.Create(openTimeout, new SessionConnector(session, routes));
        if (Interlocked.CompareExchange(ref session.HttpInvoker, created, null) is { } raced)
        {
            created.Dispose();
            return raced;
        }
        _live.TryAdd(created, 0);
        if (!session.IsUsable || _disposed)
        {
            Retire(session); // it went away meanwhile: this request still gets the client, for a second
        }
        return created;
    }

    /// <summary>The session is going away: its client closes its idle connections (shortly) and its busy ones when done.</summary>
    public void Retire(AgentSession session)
    {
        if (Interlocked.Exchange(ref session.HttpInvoker, null) is not { } retired)
        {
            return;
        }
        _ = Task.Delay(RetireDelay).ContinueWith(_ =>
        {
            if (_live.TryRemove(retired, out var _))
            {
                retired.Dispose();
            }
        }, CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default);
    }

    public void Dispose()
    {
        _disposed = true;
        Upgrades.Dispose();
        foreach (var invoker in _live.Keys)
        {
            if (_live.TryRemove(invoker, out _))
            {
                invoker.Dispose();
            }
        }
    }
}
