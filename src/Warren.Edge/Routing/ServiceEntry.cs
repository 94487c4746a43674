using System.Collections.Immutable;
using System.Net;
using System.Net.Http;
using Yarp.ReverseProxy.Forwarder;
using Warren.Configuration;
using Warren.Edge.Agents;
using Warren.Protocol.Framing;
using Warren.Protocol.Session;
using Warren.Protocol.Streams;
using Warren.Protocol.Tunnel;

namespace Warren.Edge.Routing;

/// <summary>
/// A published service: owned by one token, served by one or more sessions of that token (load spreading and
/// failover). The session list is copy-on-write so the request path reads it without a lock.
/// </summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1001", Justification = "The drain's CancellationTokenSource has no timer: nothing to release but memory.")]
internal sealed class ServiceEntry(int id, string owner, ServiceRegistration registration)
{
    private ImmutableArray<AgentSession> _sessions = [];

    /// <summary>Small number naming the service in the forwarder's destination (one connection pool per service).</summary>
    public int Id { get; } = id;

    /// <summary>The forwarder's destination prefix for this service, made once (Forwarding/TunnelHttpClientFactory.cs).</summary>
    public string TunnelDestination { get; } = Forwarding.TunnelHttpClientFactory.DestinationPrefix(id);
    public string Owner { get; } = owner;
    public string Name { get; } = registration.Name;
    public StreamKind Kind { get; } = registration.Kind == "tcp" ? StreamKind.Tcp : StreamKind.Http;
    public ServiceRegistration Registration
    {
        get => _registration;
        set
        {
            _registration = value;
            ForwarderConfig = CreateForwarderConfig(value);
        }
    }

    private ServiceRegistration _registration = registration;

    /// <summary>How YARP forwards to this service: HTTP/1.1 over the tunnel, its response timeout as the activity timeout.</summary>
    public ForwarderRequestConfig ForwarderConfig { get; private set; } = CreateForwarderConfig(registration);

    private static ForwarderRequestConfig CreateForwarderConfig(ServiceRegistration registration) => new()
    {
        Version = HttpVersion.Version11,
        VersionPolicy = HttpVersionPolicy.RequestVersionExact,
        ActivityTimeout = registration.ResponseTimeoutMs is > 0 and var ms ? TimeSpan.FromMilliseconds(ms) : TimeSpan.FromSeconds(100),
    };

    public ImmutableArray<AgentSession> Sessions => ImmutableInterlocked.InterlockedCompareExchange(ref _sessions, _sessions, _sessions);

    public void Add(AgentSession session) => ImmutableInterlocked.Update(ref _sessions, static (list, s) => list.Contains(s) ? list : list.Add(s), session);

    public void Remove(AgentSession session) => ImmutableInterlocked.Update(ref _sessions, static (list, s) => list.Remove(s), session);

    private int _pickCursor;

    /// <summary>
    /// The usable session with the fewest open streams; null when none is left (→ 503). Ties go round-robin: a burst
    /// of new pooled connections reads the stream counts before any of them has opened its stream, and each
    /// connection stays on the session it was opened on, so "the first of the least loaded" would send the whole
    /// burst, and every request after it, to one session.
    /// </summary>
    public AgentSession? PickSession()
    {
        var sessions = Sessions;
        if (sessions.Length <= 1)
        {
            return sessions.Length == 1 && sessions[0].IsUsable ? sessions[0] : null;
        }
        var start = (int)((uint)Interlocked.Increment(ref _pickCursor) % (uint)sessions.Length);
        AgentSession? best = null;
        var bestLoad = int.MaxValue;
        for (var i = 0; i < sessions.Length; i++)
        {
            var session = sessions[(start + i) % sessions.Length];
            if (!session.IsUsable)
            {
                continue;
            }
            var load = session.Mux.StreamCount;
            if (load < bestLoad)
            {
                best = session;
                bestLoad = load;
            }
        }
        return best;
    }

    /// <summary>Requests and connections waiting for a session (docs/operations.md, "The grace queue").</summary>
    public GraceQueue Grace { get; } = new();

    /// <summary>
    /// A usable session now, or the first one to register the service within <see cref="GraceConfig.Timeout"/>;
    /// null when none comes (→ 503), the queue is full, or <paramref name="cancellationToken"/> fires.
    /// </summary>
    public ValueTask<AgentSession?> WaitForSessionAsync(GraceConfig grace, CancellationToken cancellationToken)
    {
        var session = PickSession();
        return session is not null || grace.Timeout <= TimeSpan.Zero
            ? ValueTask.FromResult(session)
            : Grace.WaitAsync(this, grace, TimeProvider.System, cancellationToken);
    }

    /// <summary>How many sessions one connection's open may try when each goes away under it.</summary>
    private const int MaxOpenAttempts = 3;

    /// <summary>
    /// Opens a stream of <paramref name="kind"/> (a client connection on the service's port, a warren connect stream,
    /// or a pooled HTTP connection for a request) on <paramref name="session"/>, or on the next usable session when that
    /// one is going away already. When the session went away before its agent took the open (a GOAWAY crossed it:
    /// refused, never processed), the open goes back to the grace queue and is made on the next session, as one that
    /// came a moment later would be (docs/operations.md, "The grace queue"): nothing of the client's was sent yet, so
    /// nothing is lost or sent twice. Any other failure, or no session within the grace, throws the open's exception
    /// (<see cref="SessionClosedException"/> when no session was left to try).
    /// </summary>
    public async ValueTask<MuxStream> OpenStreamAsync(AgentSession session, StreamKind kind, string clientAddress, GraceConfig grace, CancellationToken cancellationToken)
    {
        if (!session.IsUsable && PickSession() is { } usable)
        {
            session = usable; // routed a moment ago to a session that has begun to leave since
        }
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await session.OpenAsync(this, kind, clientAddress, cancellationToken).ConfigureAwait(false);
            }
            catch (MuxException ex) when (attempt < MaxOpenAttempts && !session.IsUsable && (ex.Code == ErrorCode.RefusedStream || ex is SessionClosedException)
                && !cancellationToken.IsCancellationRequested)
            {
                if ((PickSession() ?? await WaitForSessionAsync(grace, cancellationToken).ConfigureAwait(false)) is not { } next)
                {
                    throw;
                }
                session = next;
            }
        }
    }

    private ServiceControl? _control;

    /// <summary>
    /// The operator's drain or maintenance (Admin/ServiceControlApi.cs); null, the usual case, when served normally.
    /// The request path reads it once, after routing (Forwarding/ServiceControlAnswer.cs, Tcp/TcpServiceControl.cs).
    /// </summary>
    public ServiceControl? Control
    {
        get => Volatile.Read(ref _control);
        set => Volatile.Write(ref _control, value);
    }

    private CancellationTokenSource _drainExpiry = new();

    /// <summary>
    /// Fires when a drain's timeout passed with long-lived streams still open (Admin/ServiceControlApi.cs): the open
    /// WebSockets and TCP connections of the service end their client's input then, and close as the backend closes
    /// (Tcp/TcpServiceHost.cs, Forwarding/DrainCloser.cs). A new drain starts with a new token.
    /// </summary>
    public CancellationToken DrainExpired => Volatile.Read(ref _drainExpiry).Token;

    /// <summary>The drain's timeout passed: close what is still open.</summary>
    public void ExpireDrain() => Volatile.Read(ref _drainExpiry).Cancel();

    /// <summary>A new drain begins: connections opened from now on answer to its timeout only (the old source is left to the collector: nothing else holds it).</summary>
    public void RenewDrain()
    {
        if (Volatile.Read(ref _drainExpiry).IsCancellationRequested)
        {
            Volatile.Write(ref _drainExpiry, new CancellationTokenSource());
        }
    }

    /// <summary>Replaces <paramref name="expected"/> with <paramref name="next"/> unless another change came first.</summary>
    public bool TrySetControl(ServiceControl? expected, ServiceControl? next) => Interlocked.CompareExchange(ref _control, next, expected) == expected;

    /// <summary>
    /// What the edge enforces for this service (Policy/ServicePolicy.cs); null: nothing, and the request path skips
    /// policy entirely. Set with the registration, before the route is published.
    /// </summary>
    public Policy.ServicePolicy? Policy { get; set; }

    /// <summary>
    /// Known from before the edge's restart (warren.db) and not registered since: its <see cref="Policy"/> is unknown,
    /// so a request waits for its agent before any policy step (RouteTable.Restore).
    /// </summary>
    public bool Restored { get; set; }

    private int _tcpConnections;

    /// <summary>Takes one of the TCP service's connection places; false, with nothing taken, when <paramref name="cap"/> are in use (limits.max_tcp_connections_per_service).</summary>
    public bool TryAddTcpConnection(int cap)
    {
        if (Interlocked.Increment(ref _tcpConnections) <= cap)
        {
            return true;
        }
        Interlocked.Decrement(ref _tcpConnections);
        return false;
    }

    public void RemoveTcpConnection() => Interlocked.Decrement(ref _tcpConnections);

    public override string ToString() => $"{Owner}/{Name}";
}
