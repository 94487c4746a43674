using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Prometheus;
using Warren.Admin;
using Warren.Configuration;
using Warren.Edge.Accounting;
using Warren.Edge.Agents;
using Warren.Edge.Forwarding;
using Warren.Edge.Inspector;
using Warren.Edge.Policy;
using Warren.Edge.RequestLog;
using Warren.Edge.Routing;
using Warren.Edge.Telemetry;
using Warren.Edge.Tokens;

namespace Warren.Edge.Dashboard;

/// <summary>
/// What the edge's console knows (docs/console.md): live numbers per service and session, the request log, the
/// inspector, traffic accounting and quotas. The request path reaches it three times, each cheap and never waiting:
/// <see cref="Wrap"/> before forwarding (a volatile read unless some token has a quota or some service is inspected),
/// <see cref="Http"/> and <see cref="Tcp"/> when a request or connection ends (interlocked adds and one queue offer).
/// Everything slow (SQLite, percentiles, charts) runs on the log's own thread, the once-a-second sampler or timers.
/// </summary>
internal sealed class EdgeConsole : IDisposable
{
    /// <summary>The answer to a request refused for its token's quota (its error kind in the log: quota_exceeded).</summary>
    public static readonly EdgeAnswer QuotaAnswer = new(ErrorKind.PolicyDenied);

    private readonly EdgeState _state;
    private readonly EdgeMetrics _metrics;
    private readonly TimeProvider _time;
    private readonly ConditionalWeakTable<ServiceEntry, ServiceStats> _stats = new();
    private readonly ConditionalWeakTable<AgentSession, SessionStats> _sessions = new();
    private long _nextId;
    private int _routesChanged = 1; // the sampler gives services registered since its last look their charts

    public EdgeConsole(EdgeConfig config, EdgeState state, EdgeMetrics metrics, TokenValidator tokens, TunnelHttpClient client, TimeProvider time, ILoggerFactory loggerFactory)
    {
        (_state, _metrics, _time, Client) = (state, metrics, time, client);
        DataDirectory = config.DataDirectory;
        Log = config.RequestLog.Enabled ? new RequestLogWriter(config.DataDirectory, config.RequestLog, time, loggerFactory.CreateLogger<RequestLogWriter>()) : null;
        _nextId = Log?.LastId ?? 0;
        Accounting = new TrafficAccounting(new TrafficStore(config.DataDirectory), tokens, time, loggerFactory.CreateLogger<TrafficAccounting>(), Database);
        Inspector = new RequestInspector(config.Inspector, time);
        Tokens = tokens;
        Register(metrics.Registry);
        _state.Routes.Changed += () => Volatile.Write(ref _routesChanged, 1);
        Feed = new LiveFeed(time, Sample);
    }

    public string DataDirectory { get; }

    /// <summary>The thread the console's pages and the accounting's flush use for SQLite (never the thread pool).</summary>
    public ConsoleDatabase Database { get; } = new();

    /// <summary>The request log; null with <c>request_log.enabled: false</c>.</summary>
    public RequestLogWriter? Log { get; }

    public TrafficAccounting Accounting { get; }

    public RequestInspector Inspector { get; }

    public TokenValidator Tokens { get; }

    public TunnelHttpClient Client { get; }

    public LiveFeed Feed { get; }

    public EdgeState State => _state;

    /// <summary>The whole edge's requests/s, errors/s, ... (the overview's top chart).</summary>
    public SeriesRing EdgeRing { get; } = new(ServiceStats.Width);

    /// <summary>A service's console state (created on its first request or sample).</summary>
    public ServiceStats For(ServiceEntry service) =>
        _stats.TryGetValue(service, out var stats) ? stats : _stats.GetValue(service, s =>
        {
            var created = new ServiceStats(s, Accounting.AccountOf(s.Owner));
            Inspector.Attach(created);
            return created;
        });

    public SessionStats For(AgentSession session) => _sessions.GetValue(session, static _ => new SessionStats());

    /// <summary>Every service seen since start whose entry is still alive (the sampler's list).</summary>
    public IEnumerable<ServiceStats> Services => _stats.Select(p => p.Value);

    public long NextId() => Interlocked.Increment(ref _nextId);

    /// <summary>
    /// This edge took over from a running one (an upgrade, Hosting/EdgeHandover.cs), which goes on numbering its last
    /// requests into the same requests.db while it drains: this one's ids start a billion above, so the two never
    /// collide (a row whose id is taken would drop its whole batch). Called before the public listener starts.
    /// </summary>
    public void LeaveIdsToPredecessor() => Interlocked.Add(ref _nextId, 1_000_000_000);

    /// <summary>The step before forwarding: the token's quota (429), then the inspector's capture. Placed inside the policy step.</summary>
    public RequestDelegate Wrap(RequestDelegate next) => context => Accounting.AnyQuota || Inspector.Any ? InvokeAsync(context, next) : next(context);

    private async Task InvokeAsync(HttpContext context, RequestDelegate next)
    {
        var request = context.Request;
        var state = EdgeRequest.Find(context);
        var service = state?.ResolvedService;
        if (service is null && state is not { RouteResolved: true } && !string.IsNullOrEmpty(request.Host.Host))
        {
            service = _state.Routes.MatchHttp(request.Host.Host, request.Path.Value ?? "/");
        }
        if (service is null)
        {
            await next(context).ConfigureAwait(false);
            return;
        }
        var stats = For(service);
        if (stats.Account.Exceeded is { } reason)
        {
            RequestTelemetry.Routed(context, service);
            RequestTelemetry.Answered(context, QuotaAnswer);
            context.Response.StatusCode = StatusCodes.Status429TooManyRequests;
            if (stats.Account.ResetsAt is { } resets)
            {
                context.Response.Headers.RetryAfter = Math.Max(1, (long)Math.Ceiling((resets - _time.GetUtcNow()).TotalSeconds)).ToString(System.Globalization.CultureInfo.InvariantCulture);
            }
            context.Response.ContentType = "text/plain; charset=utf-8";
            await context.Response.WriteAsync(reason + "\n", context.RequestAborted).ConfigureAwait(false);
            return;
        }
        if (stats.Inspecting)
        {
            Inspector.Begin(context, stats, NextId());
        }
        await next(context).ConfigureAwait(false);
    }

    /// <summary>Why a TCP connection to <paramref name="service"/> is refused now (its token's quota), or null.</summary>
    public string? RefuseTcp(ServiceEntry service) => Accounting.AnyQuota ? For(service).Account.Exceeded : null;

    /// <summary>An HTTP request ended (called by RequestTelemetry with what it measured).</summary>
    public void Http(HttpContext context, EdgeRequest state, int status, TimeSpan elapsed, long bytesIn, long bytesOut, ErrorKind kind, bool upgraded)
    {
        var entry = state.Service;
        var error = kind == ErrorKind.None ? "" : ReferenceEquals(state.Answer, QuotaAnswer) ? "quota_exceeded" : EdgeMetrics.Label(kind);
        var micros = elapsed.Ticks / (TimeSpan.TicksPerMillisecond / 1000);
        Capture? capture = null;
        if (entry is not null)
        {
            var stats = For(entry);
            stats.Record(micros, bytesIn, bytesOut, kind != ErrorKind.None);
            if (stats.Captures is not null && state.Capture is { } c)
            {
                capture = c;
                Inspector.Complete(context, c, status, elapsed.TotalMilliseconds, bytesIn, bytesOut, error);
            }
        }
        if (Log is { } log)
        {
            var request = context.Request;
            var sessions = entry?.Sessions ?? default;
            log.TryEnqueue(new RequestRecord(capture?.Id ?? NextId(), _time.GetUtcNow().ToUnixTimeMilliseconds(), upgraded ? RecordKind.WebSocket : RecordKind.Http,
                entry?.Name, entry?.Owner, request.Method, request.Headers.Host.ToString(), request.Path.Value, status, micros, bytesIn, bytesOut,
                context.Connection.RemoteIpAddress, sessions.IsDefault || sessions.Length != 1 ? null : sessions[0], error));
        }
    }

    /// <summary>A TCP connection ended (called by TcpTelemetry).</summary>
    public void Tcp(ServiceEntry? entry, AgentSession? session, IPAddress? address, int port, TimeSpan elapsed, long bytesIn, long bytesOut, ErrorKind kind, bool refusedForQuota)
    {
        var error = refusedForQuota ? "quota_exceeded" : kind == ErrorKind.None ? "" : EdgeMetrics.Label(kind);
        var micros = elapsed.Ticks / (TimeSpan.TicksPerMillisecond / 1000);
        var id = NextId();
        if (entry is not null)
        {
            var stats = For(entry);
            stats.Record(micros, bytesIn, bytesOut, kind != ErrorKind.None);
            if (stats.Inspecting && stats.Captures is { } captures)
            {
                var now = _time.GetUtcNow();
                var capture = new Capture(id, now - elapsed, entry.Name, "tcp", 0)
                {
                    Method = "TCP",
                    Host = ":" + port.ToString(System.Globalization.CultureInfo.InvariantCulture),
                    Client = address?.ToString(),
                    BytesIn = bytesIn,
                    BytesOut = bytesOut,
                    DurationMs = elapsed.TotalMilliseconds,
                    Error = error,
                };
                capture.AddEvent(new CaptureEvent(now - elapsed, "client → edge", "connected" + (session is null ? "" : $" (session {session.AgentName}#{session.Id})"), 0));
                capture.AddEvent(new CaptureEvent(now, "client → service", "bytes", bytesIn));
                capture.AddEvent(new CaptureEvent(now, "service → client", "bytes", bytesOut));
                capture.AddEvent(new CaptureEvent(now, "edge", error.Length == 0 ? "closed" : "closed: " + error, 0));
                captures.Add(capture);
            }
        }
        Log?.TryEnqueue(new RequestRecord(id, _time.GetUtcNow().ToUnixTimeMilliseconds(), RecordKind.Tcp, entry?.Name, entry?.Owner, null,
            ":" + port.ToString(System.Globalization.CultureInfo.InvariantCulture), null, 0, micros, bytesIn, bytesOut, address, session, error));
    }

    /// <summary>Once a second: each service's point, the edge's totals, the accounting, each session's point.</summary>
    private void Sample(long unixSeconds)
    {
        var now = _time.GetUtcNow();
        Span<double> total = stackalloc double[ServiceStats.Width];
        Span<double> point = stackalloc double[ServiceStats.Width];
        var p99 = 0.0;
        var p50 = 0.0;
        if (Interlocked.Exchange(ref _routesChanged, 0) != 0)
        {
            foreach (var route in _state.Routes.Services)
            {
                For(route); // a service with no traffic yet still gets its (flat) chart
            }
        }
        foreach (var stats in Services)
        {
            // Existing, not For: the sampler must not publish a series for a service that has had no traffic yet.
            var metrics = stats.Metrics ??= _metrics.Existing(stats.Entry);
            var (requests, bytesIn, bytesOut) = stats.Sample(unixSeconds, metrics?.UpgradedOpen.Value ?? 0, metrics?.TcpOpen.Value ?? 0, point);
            Accounting.Add(stats.Entry.Name, stats.Account, requests, bytesIn, bytesOut, now);
            for (var i = 0; i < point.Length; i++)
            {
                total[i] += point[i];
            }
            p50 = Math.Max(p50, point[2]);
            p99 = Math.Max(p99, point[3]);
        }
        (total[2], total[3]) = (p50, p99); // the slowest service's: percentiles do not add
        EdgeRing.Add(unixSeconds, total);
        Accounting.Tick(now);
        foreach (var session in _state.Sessions)
        {
            For(session).Sample(unixSeconds, session.Mux);
        }
    }

    private void Register(CollectorRegistry registry)
    {
        Accounting.Register(registry);
        if (Log is not { } log)
        {
            return;
        }
        var f = Metrics.WithCustomRegistry(registry);
        var written = f.CreateCounter("warren_request_log_written_total", "Rows written to the request log.");
        var dropped = f.CreateCounter("warren_request_log_dropped_total", "Request log records dropped because the writer's queue was full (request_log.queue).");
        var depth = f.CreateGauge("warren_request_log_queue_depth", "Request log records waiting for the writer.");
        registry.AddBeforeCollectCallback(() =>
        {
            written.IncTo(log.Written);
            dropped.IncTo(log.Dropped);
            depth.Set(log.QueueDepth);
        });
    }

    /// <summary>Stops the clock, writes what the log holds, and flushes the accounting (a clean stop loses no count).</summary>
    public void Dispose()
    {
        Feed.Dispose();
        Sample(_time.GetUtcNow().ToUnixTimeSeconds()); // the last partial second reaches the accounting
        Log?.Dispose();
        Database.Dispose(); // what the pages queued runs first, then the accounting's last flush on this thread
        Accounting.Dispose();
    }
}
