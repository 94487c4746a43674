using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Prometheus;
using Warren.Edge.Agents;
using Warren.Edge.Limits;
using Warren.Edge.Routing;
using Warren.Edge.Tls;
using Warren.Protocol.Session;
using Warren.Protocol.Buffers;
using Warren.Protocol.Streams;

namespace Warren.Edge.Telemetry;

/// <summary>Why a request or connection to a service failed: a fixed set, so it is safe as a label value.</summary>
internal enum ErrorKind
{
    None,
    DialFailed,
    DialTimeout,
    Overloaded,
    NoSession,
    Reset,
    PolicyDenied,
    Timeout,

    /// <summary>The client went away (not a service error: counted in warren_service_client_aborts_total only).</summary>
    ClientAbort,
}

/// <summary>
/// The edge's Prometheus metrics (docs/observability.md). One registry per edge (tests run several in one process).
/// The request path touches only <see cref="ServiceMetrics"/>: label children looked up once per service and cached
/// on its <see cref="ServiceEntry"/>. Session and edge-wide values are read at scrape time in a collect callback.
/// Label values are service names, token names, agent names and fixed enums only, never request input.
/// </summary>
internal sealed class EdgeMetrics
{
    private static readonly string[] ErrorKindLabels = ["", "dial_failed", "dial_timeout", "overloaded", "no_session", "reset", "policy_denied", "timeout", "client_abort"];

    private readonly EdgeState _state;
    private readonly ConcurrentDictionary<long, AgentSession> _live = new();
    private readonly Dictionary<(string Agent, string Token), LinkTotals> _closed = [];
    private readonly HashSet<(string Agent, string Token)> _gaugeKeys = [];

    // Agent names are chosen by agents: each name and token keeps its series while it has a session, and afterwards
    // only among the MaxGoneAgents most recently gone (docs/observability.md, "Series of gone agents").
    private readonly Dictionary<(string Agent, string Token), int> _liveCount = [];
    private readonly LinkedList<(string Agent, string Token)> _gone = new();
    private readonly Dictionary<(string Agent, string Token), LinkedListNode<(string Agent, string Token)>> _goneNodes = [];

    /// <summary>Agent name and token pairs without a live session whose series are kept: the most recently gone stay (tests lower it).</summary>
    internal int MaxGoneAgents { get; set; } = 256;
    private readonly Lock _sessionsLock = new();
    private readonly Counter _unrouted;

    public EdgeMetrics(EdgeState state, SniCertificateSelector? sni, PerIpConnectionLimiter perIp, AgentListenerGuard? agents = null)
    {
        _state = state;
        Registry = Metrics.NewCustomRegistry();
        DotNetStats.Register(Registry);
        var f = Metrics.WithCustomRegistry(Registry);
        string[] svc = ["service", "owner"];
        string[] agent = ["agent", "token"];

        Requests = f.CreateCounter("warren_http_requests_total", "HTTP requests answered for a service, by status code and class.", [.. svc, "code", "class"]);
        Duration = f.CreateHistogram("warren_http_request_duration_seconds", "Time from request received to response complete (upgraded connections: until closed).", svc,
            new HistogramConfiguration { Buckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60] });
        BytesIn = f.CreateCounter("warren_service_received_bytes_total", "Bytes received from clients for a service (HTTP: on the client connection, headers included; TCP: payload).", svc);
        BytesOut = f.CreateCounter("warren_service_sent_bytes_total", "Bytes sent to clients for a service (HTTP: on the client connection, headers included; TCP: payload).", svc);
        Active = f.CreateGauge("warren_service_active_streams", "Requests in flight plus open upgraded and TCP connections for a service.", svc);
        Errors = f.CreateCounter("warren_service_errors_total", "Failed requests and connections by kind.", [.. svc, "kind"]);
        ClientAborts = f.CreateCounter("warren_service_client_aborts_total", "Requests and connections the client gave up on before they completed (not service errors; the status recorded for an unanswered request is 499).", svc);
        UpgradedOpen = f.CreateGauge("warren_service_upgraded_connections_open", "Upgraded (WebSocket) connections open through a service.", svc);
        Upgraded = f.CreateCounter("warren_service_upgraded_connections_total", "Upgraded (WebSocket) connections accepted through a service.", svc);
        TcpOpen = f.CreateGauge("warren_service_tcp_connections_open", "TCP connections open through a TCP service.", svc);
        Tcp = f.CreateCounter("warren_service_tcp_connections_total", "TCP connections accepted for a TCP service.", svc);
        Rejected = f.CreateCounter("warren_service_rejected_total",
            "Requests and TCP connections the edge refused before they reached the agent: per_ip_limit (the client's address or IPv6 /64 held its cap for the service: HTTP 429, TCP closed), service_limit (the TCP service held its cap).",
            [.. svc, "reason"]);
        _unrouted = f.CreateCounter("warren_http_unrouted_requests_total", "HTTP requests answered without a service: no_route (404), method_not_allowed (CONNECT), bad_header (400).", ["reason"]);
        NoRoute = _unrouted.WithLabels("no_route");
        MethodNotAllowed = _unrouted.WithLabels("method_not_allowed");
        BadHeader = _unrouted.WithLabels("bad_header");
        OtherUnrouted = _unrouted.WithLabels("other");

        ConnectionsOpen = f.CreateGauge("warren_edge_connections_open", "Connections open on an edge listener (http, https, agents).", ["listener"]);
        Connections = f.CreateCounter("warren_edge_connections_total", "Connections accepted on an edge listener (http, https, agents).", ["listener"]);
        var rejectedCounter = f.CreateCounter("warren_edge_connections_rejected_total",
            "Connections closed at accept: per_ip_limit (public listeners: the client IP or IPv6 /64 held too many), agent_per_ip_limit (agents listener: likewise), agent_login_limit (agents listener: the IP's failed logins and logins in progress reached limits.max_auth_failures_per_ip).",
            ["reason"]);
        var rejected = rejectedCounter.WithLabels("per_ip_limit");
        var agentsOverCap = rejectedCounter.WithLabels("agent_per_ip_limit");
        var agentLogins = rejectedCounter.WithLabels("agent_login_limit");
        var connectionErrors = f.CreateCounter("warren_edge_connection_errors_total",
            "Connections Kestrel ended with an error, by listener and Kestrel's reason (min_request_body_data_rate, min_response_data_rate, request_headers_timeout, stream_reset_limit_exceeded, ...).",
            ["listener", "reason"]);
        var tls = f.CreateCounter("warren_edge_tls_handshake_failures_total", "Public TLS handshakes refused, by reason (unknown_name: no SNI or a name without a certificate).", ["reason"]).WithLabels("unknown_name");
        var auth = f.CreateCounter("warren_edge_auth_failures_total", "Agent connections that presented an invalid token.");
        Ready = f.CreateGauge("warren_edge_ready", "1 when the edge's listeners are bound and it accepts traffic.");
        var buffered = f.CreateGauge("warren_edge_inbound_buffered_bytes", "Bytes received on tunnel streams and not yet read or discarded (whole process).");
        var blocks = f.CreateGauge("warren_edge_buffer_blocks_outstanding", "16 KiB blocks of the inbound-buffer pool rented and not returned (whole process).");
        var retained = f.CreateGauge("warren_edge_buffer_blocks_retained", "Idle 16 KiB blocks the inbound-buffer pool keeps for reuse (whole process).");

        _sessions = f.CreateGauge("warren_edge_sessions", "Agent sessions connected, by agent name and token.", agent);
        _streams = f.CreateGauge("warren_edge_session_streams_open", "Streams open on the agent's sessions.", agent);
        _writeQueue = f.CreateGauge("warren_edge_session_write_queue_depth", "Frames and streams waiting for the session writer.", agent);
        _rtt = f.CreateGauge("warren_edge_session_rtt_seconds", "Smoothed round-trip time of the agent's sessions (the largest when several).", agent);
        _stalls = f.CreateCounter("warren_edge_session_flow_control_stalls_total", "Times a stream had data to send but no flow-control window.", agent);
        _framesSent = f.CreateCounter("warren_edge_session_frames_sent_total", "Frames sent to the agent on the link.", agent);
        _framesReceived = f.CreateCounter("warren_edge_session_frames_received_total", "Frames received from the agent on the link.", agent);
        _bytesSent = f.CreateCounter("warren_edge_session_sent_bytes_total", "Bytes sent to the agent on the link (frame headers included).", agent);
        _bytesReceived = f.CreateCounter("warren_edge_session_received_bytes_total", "Bytes received from the agent on the link (frame headers included).", agent);
        _connects = f.CreateCounter("warren_edge_session_connects_total", "Agent sessions authenticated.", agent);
        _reconnects = f.CreateCounter("warren_edge_agent_reconnects_total", "Sessions authenticated by an agent name and token seen before (every connect after the first).", agent);
        _disconnects = f.CreateCounter("warren_edge_session_disconnects_total", "Agent sessions ended, by close code (no_error, keep_alive_timeout, connection_lost, ...) and side.", [.. agent, "code", "by"]);

        _graceWaits = f.CreateCounter("warren_service_grace_waits_total",
            "Requests and TCP connections that found no session for their service and waited in its grace queue, by outcome: served (a session came within grace.timeout), timed_out (503 or a reset), rejected (grace.max_waiting were already waiting).",
            [.. svc, "outcome"]);
        _graceWaiting = f.CreateGauge("warren_service_grace_waiting", "Requests and TCP connections waiting in a service's grace queue now.", svc);

        state.SessionAdded += OnSessionAdded;
        Registry.AddBeforeCollectCallback(() =>
        {
            rejected.IncTo(perIp.Rejected);
            if (agents is not null)
            {
                agentsOverCap.IncTo(agents.RejectedPerIp);
                agentLogins.IncTo(agents.RejectedLogins);
            }
            if (sni is not null)
            {
                tls.IncTo(sni.Rejected);
            }
            auth.IncTo(state.AuthFailures);
            if (KestrelErrors is { } errors)
            {
                foreach (var ((listener, reason), count) in errors.Counts)
                {
                    connectionErrors.WithLabels(listener, reason).IncTo(count);
                }
            }
            buffered.Set(MuxStream.InboundBufferedBytes);
            blocks.Set(BlockPool.Shared.Outstanding);
            retained.Set(BlockPool.Shared.Retained);
            CollectSessions();
            CollectGrace();
        });
    }

    public CollectorRegistry Registry { get; }

    /// <summary>Kestrel's connection errors, once the app that owns its meter is built.</summary>
    public KestrelConnectionErrors? KestrelErrors { get; set; }
    public Counter Requests { get; }
    public Histogram Duration { get; }
    public Counter BytesIn { get; }
    public Counter BytesOut { get; }
    public Gauge Active { get; }
    public Counter Errors { get; }
    public Counter ClientAborts { get; }
    public Gauge UpgradedOpen { get; }
    public Counter Upgraded { get; }
    public Gauge TcpOpen { get; }
    public Counter Tcp { get; }
    public Counter Rejected { get; }
    public Counter.Child NoRoute { get; }
    public Counter.Child MethodNotAllowed { get; }
    public Counter.Child BadHeader { get; }
    public Counter.Child OtherUnrouted { get; }
    public Gauge ConnectionsOpen { get; }
    public Counter Connections { get; }
    private Gauge Ready { get; }

    /// <summary>Listeners bound and not stopping: what /readyz answers.</summary>
    public bool IsReady
    {
        get => _ready;
        set
        {
            _ready = value;
            Ready.Set(value ? 1 : 0);
        }
    }

    private volatile bool _ready;

    // Each service's label children, looked up once per service. Kept here, beside the route table rather than in it,
    // so routing holds no metrics objects (docs/architecture.md, "What may depend on what"); a service's entry going
    // away takes its cache slot with it. Reads are lock-free.
    private readonly ConditionalWeakTable<ServiceEntry, ServiceMetrics> _services = new();

    /// <summary>The service's cached label children (created on first use).</summary>
    public ServiceMetrics For(ServiceEntry service) =>
        _services.TryGetValue(service, out var metrics) ? metrics : _services.GetValue(service, s => new ServiceMetrics(this, s.Name, s.Owner));

    /// <summary>The service's metrics if its first request or connection made them; null before (no series is published early).</summary>
    public ServiceMetrics? Existing(ServiceEntry service) => _services.TryGetValue(service, out var metrics) ? metrics : null;

    public static string Label(ErrorKind kind) => ErrorKindLabels[(int)kind];

    private readonly Gauge _sessions, _streams, _writeQueue, _rtt;
    private readonly Counter _stalls, _framesSent, _framesReceived, _bytesSent, _bytesReceived, _connects, _reconnects, _disconnects;

    private void OnSessionAdded(AgentSession session)
    {
        var key = (session.AgentName, session.TokenName);
        lock (_sessionsLock)
        {
            if (!_closed.ContainsKey(key))
            {
                _closed[key] = new LinkTotals();
                _reconnects.WithLabels(key.AgentName, key.TokenName); // published at 0 from the first connect
            }
            else
            {
                _reconnects.WithLabels(key.AgentName, key.TokenName).Inc();
            }
            _connects.WithLabels(key.AgentName, key.TokenName).Inc();
            _live[session.Id] = session;
            _liveCount[key] = _liveCount.GetValueOrDefault(key) + 1;
            if (_goneNodes.Remove(key, out var node))
            {
                _gone.Remove(node); // back: its series stay
            }
        }
        session.Mux.Completion.ContinueWith(t => OnSessionClosed(session, t.Result), CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously | TaskContinuationOptions.OnlyOnRanToCompletion, TaskScheduler.Default);
    }

    private void OnSessionClosed(AgentSession session, SessionCloseInfo info)
    {
        var key = (session.AgentName, session.TokenName);
        lock (_sessionsLock)
        {
            _disconnects.WithLabels(key.AgentName, key.TokenName, SnakeCase(info.Code.ToString()), info.ByPeer ? "agent" : "edge").Inc();
            if (!_live.TryRemove(session.Id, out _))
            {
                return;
            }
            _closed[key].Add(session.Mux.Counters);
            if (--CollectionsMarshal.GetValueRefOrNullRef(_liveCount, key) == 0)
            {
                _liveCount.Remove(key);
                _goneNodes[key] = _gone.AddLast(key);
                while (_gone.Count > MaxGoneAgents)
                {
                    ForgetUnsynchronized(_gone.First!.Value);
                }
            }
        }
    }

    /// <summary>Removes every series of an agent name and token that has had no session for longest.</summary>
    private void ForgetUnsynchronized((string Agent, string Token) key)
    {
        _gone.RemoveFirst();
        _goneNodes.Remove(key);
        _closed.Remove(key);
        _gaugeKeys.Remove(key);
        string[] labels = [key.Agent, key.Token];
        foreach (var gauge in new[] { _sessions, _streams, _writeQueue, _rtt })
        {
            gauge.RemoveLabelled(labels);
        }
        foreach (var counter in new[] { _stalls, _framesSent, _framesReceived, _bytesSent, _bytesReceived, _connects, _reconnects })
        {
            counter.RemoveLabelled(labels);
        }
        foreach (var labelValues in _disconnects.GetAllLabelValues().Where(v => v[0] == key.Agent && v[1] == key.Token).ToArray())
        {
            _disconnects.RemoveLabelled(labelValues);
        }
    }

    private readonly Counter _graceWaits;
    private readonly Gauge _graceWaiting;
    private readonly ConditionalWeakTable<GraceQueue, long[]> _graceSeen = new();

    /// <summary>
    /// The grace queues count in plain numbers (Routing holds no metrics object); what they counted since the last
    /// scrape is added here, so a service whose entry is replaced never makes a counter go backwards.
    /// </summary>
    private void CollectGrace()
    {
        foreach (var entry in _state.Routes.AllEntries)
        {
            var queue = entry.Grace;
            var seen = _graceSeen.GetValue(queue, static _ => new long[3]);
            long[] now = [queue.Served, queue.TimedOut, queue.Rejected];
            lock (seen)
            {
                for (var i = 0; i < now.Length; i++)
                {
                    if (now[i] > seen[i])
                    {
                        _graceWaits.WithLabels(entry.Name, entry.Owner, GraceOutcomes[i]).Inc(now[i] - seen[i]);
                        seen[i] = now[i];
                    }
                }
            }
            _graceWaiting.WithLabels(entry.Name, entry.Owner).Set(queue.Waiting);
        }
    }

    private static readonly string[] GraceOutcomes = ["served", "timed_out", "rejected"];

    private void CollectSessions()
    {
        lock (_sessionsLock)
        {
            var now = new Dictionary<(string, string), (LinkTotals Totals, int Sessions, int Streams, int Queue, double Rtt)>();
            foreach (var (key, closed) in _closed)
            {
                var totals = new LinkTotals();
                totals.Add(closed);
                now[key] = (totals, 0, 0, 0, 0);
            }
            foreach (var session in _live.Values)
            {
                var key = (session.AgentName, session.TokenName);
                var entry = now[key];
                entry.Totals.Add(session.Mux.Counters);
                now[key] = (entry.Totals, entry.Sessions + 1, entry.Streams + session.Mux.StreamCount,
                    entry.Queue + session.Mux.WriteQueueDepth, Math.Max(entry.Rtt, session.Mux.SmoothedRtt.TotalSeconds));
            }
            foreach (var ((agent, token), value) in now)
            {
                _stalls.WithLabels(agent, token).IncTo(value.Totals.Stalls);
                _framesSent.WithLabels(agent, token).IncTo(value.Totals.FramesSent);
                _framesReceived.WithLabels(agent, token).IncTo(value.Totals.FramesReceived);
                _bytesSent.WithLabels(agent, token).IncTo(value.Totals.BytesSent);
                _bytesReceived.WithLabels(agent, token).IncTo(value.Totals.BytesReceived);
                if (value.Sessions > 0)
                {
                    _gaugeKeys.Add((agent, token));
                    _sessions.WithLabels(agent, token).Set(value.Sessions);
                    _streams.WithLabels(agent, token).Set(value.Streams);
                    _writeQueue.WithLabels(agent, token).Set(value.Queue);
                    _rtt.WithLabels(agent, token).Set(value.Rtt);
                }
                else if (_gaugeKeys.Remove((agent, token)))
                {
                    // Gone agents leave no gauges behind; their counters stay (they must not go backwards).
                    _sessions.WithLabels(agent, token).Set(0);
                    _streams.RemoveLabelled(agent, token);
                    _writeQueue.RemoveLabelled(agent, token);
                    _rtt.RemoveLabelled(agent, token);
                }
            }
        }
    }

    internal static string SnakeCase(string name)
    {
        var builder = new System.Text.StringBuilder(name.Length + 4);
        foreach (var c in name)
        {
            if (char.IsUpper(c) && builder.Length > 0)
            {
                builder.Append('_');
            }
            builder.Append(char.ToLowerInvariant(c));
        }
        return builder.ToString();
    }

    private sealed class LinkTotals
    {
        public long FramesSent, FramesReceived, BytesSent, BytesReceived, Stalls;

        public void Add(SessionCounters c)
        {
            FramesSent += c.FramesSent;
            FramesReceived += c.FramesReceived;
            BytesSent += c.BytesSent;
            BytesReceived += c.BytesReceived;
            Stalls += c.FlowControlStalls;
        }

        public void Add(LinkTotals c)
        {
            FramesSent += c.FramesSent;
            FramesReceived += c.FramesReceived;
            BytesSent += c.BytesSent;
            BytesReceived += c.BytesReceived;
            Stalls += c.Stalls;
        }
    }
}

/// <summary>One service's label children, looked up once and cached on its <see cref="ServiceEntry"/>.</summary>
internal sealed class ServiceMetrics
{
    private readonly EdgeMetrics _metrics;
    private readonly Counter.Child?[] _byCode = new Counter.Child?[601];
    private readonly Counter.Child?[] _errors = new Counter.Child?[8];
    private readonly Counter.Child?[] _rejected = new Counter.Child?[2];

    public ServiceMetrics(EdgeMetrics metrics, string service, string owner)
    {
        _metrics = metrics;
        Service = service;
        Owner = owner;
        Duration = metrics.Duration.WithLabels(service, owner);
        BytesIn = metrics.BytesIn.WithLabels(service, owner);
        BytesOut = metrics.BytesOut.WithLabels(service, owner);
        Active = metrics.Active.WithLabels(service, owner);
        UpgradedOpen = metrics.UpgradedOpen.WithLabels(service, owner);
        Upgraded = metrics.Upgraded.WithLabels(service, owner);
        TcpOpen = metrics.TcpOpen.WithLabels(service, owner);
        Tcp = metrics.Tcp.WithLabels(service, owner);
        ClientAborts = metrics.ClientAborts.WithLabels(service, owner);
    }

    public string Service { get; }
    public string Owner { get; }
    public Histogram.Child Duration { get; }
    public Counter.Child BytesIn { get; }
    public Counter.Child BytesOut { get; }
    public Gauge.Child Active { get; }
    public Gauge.Child UpgradedOpen { get; }
    public Counter.Child Upgraded { get; }
    public Gauge.Child TcpOpen { get; }
    public Counter.Child Tcp { get; }
    public Counter.Child ClientAborts { get; }

    // Totals for /api/status rates (cheap: two interlocked adds per request).
    private long _requests;
    private long _errorCount;
    public long RequestCount => Interlocked.Read(ref _requests);
    public long ErrorCount => Interlocked.Read(ref _errorCount);

    private (long At, long Requests, long Errors) _previous = (Stopwatch.GetTimestamp(), 0, 0);
    private (long At, long Requests, long Errors) _latest = (Stopwatch.GetTimestamp(), 0, 0);

    /// <summary>Requests and errors per second over the last ~10 s (between samples taken by /api/status calls).</summary>
    public (double Requests, double Errors) Rates()
    {
        lock (_byCode)
        {
            var now = (At: Stopwatch.GetTimestamp(), Requests: RequestCount, Errors: ErrorCount);
            if (Stopwatch.GetElapsedTime(_latest.At, now.At) >= TimeSpan.FromSeconds(10))
            {
                _previous = _latest;
                _latest = now;
            }
            var seconds = Stopwatch.GetElapsedTime(_previous.At, now.At).TotalSeconds;
            return seconds <= 0 ? (0, 0) : ((now.Requests - _previous.Requests) / seconds, (now.Errors - _previous.Errors) / seconds);
        }
    }

    /// <summary>A TCP connection counts as one request in the /api/status rates.</summary>
    public void CountConnection() => Interlocked.Increment(ref _requests);

    /// <summary>Counts a response: by code (100..599; anything else is "other") and its class.</summary>
    public void CountStatus(int status)
    {
        Interlocked.Increment(ref _requests);
        var index = status is >= 100 and <= 599 ? status : 600;
        var child = Volatile.Read(ref _byCode[index]);
        if (child is null)
        {
            var code = index == 600 ? "other" : status.ToString(System.Globalization.CultureInfo.InvariantCulture);
            var cls = index == 600 ? "other" : (char)('0' + status / 100) + "xx";
            child = _metrics.Requests.WithLabels(Service, Owner, code, cls);
            Volatile.Write(ref _byCode[index], child);
        }
        child.Inc();
    }

    public void CountRejected(ClientRejection reason)
    {
        var child = Volatile.Read(ref _rejected[(int)reason]);
        if (child is null)
        {
            child = _metrics.Rejected.WithLabels(Service, Owner, reason == ClientRejection.PerIpLimit ? "per_ip_limit" : "service_limit");
            Volatile.Write(ref _rejected[(int)reason], child);
        }
        child.Inc();
    }

    public void CountError(ErrorKind kind)
    {
        if (kind == ErrorKind.None)
        {
            return;
        }
        if (kind == ErrorKind.ClientAbort)
        {
            ClientAborts.Inc();
            return;
        }
        Interlocked.Increment(ref _errorCount);
        var child = Volatile.Read(ref _errors[(int)kind]);
        if (child is null)
        {
            child = _metrics.Errors.WithLabels(Service, Owner, EdgeMetrics.Label(kind));
            Volatile.Write(ref _errors[(int)kind], child);
        }
        child.Inc();
    }
}
