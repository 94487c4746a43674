using Warren.Admin;
using Warren.Edge.Accounting;
using Warren.Edge.Inspector;
using Warren.Edge.Routing;
using Warren.Edge.Telemetry;

namespace Warren.Edge.Dashboard;

/// <summary>
/// One service's live numbers for the console (docs/console.md, "Live charts"): the request path adds to the current
/// second's counters (a handful of interlocked adds, no lock), and the sampler turns them into a point of
/// <see cref="Ring"/> once a second and hands the bytes to the accounting. Kept beside the route table, keyed by
/// entry, as the metrics are.
/// </summary>
internal sealed class ServiceStats(ServiceEntry entry, TokenAccount account)
{
    /// <summary>Requests/s, errors/s, p50 ms, p99 ms, bytes in/s, bytes out/s, open WebSockets, open TCP connections.</summary>
    public const int Width = 8;

    private readonly LatencyHistogram _latency = new();
    private long _requests, _errors, _bytesIn, _bytesOut;

    public ServiceEntry Entry { get; } = entry;

    public TokenAccount Account { get; } = account;

    public SeriesRing Ring { get; } = new(Width);

    /// <summary>The inspector's captures when the service is being inspected; null (the common case) when not.</summary>
    public CaptureRing? Captures { get; set; }

    /// <summary>Whether new requests are captured (read once per request: a volatile bool).</summary>
    public bool Inspecting
    {
        get => Volatile.Read(ref _inspecting);
        set => Volatile.Write(ref _inspecting, value);
    }

    private bool _inspecting;

    public void Record(long micros, long bytesIn, long bytesOut, bool error)
    {
        Interlocked.Increment(ref _requests);
        if (error)
        {
            Interlocked.Increment(ref _errors);
        }
        Interlocked.Add(ref _bytesIn, bytesIn);
        Interlocked.Add(ref _bytesOut, bytesOut);
        _latency.Record(micros);
    }

    /// <summary>The service's metrics once it has any (they are made on its first request and kept with the entry).</summary>
    public ServiceMetrics? Metrics { get; set; }

    // The newest point had no traffic, with these open counts: a second with nothing new repeats it.
    private bool _quiet;
    private double _quietWebSockets, _quietTcp;

    /// <summary>
    /// Closes the current second: a point on the chart (also written to <paramref name="point"/>, <see cref="Width"/>
    /// values), and what it counted for the accounting. A second with no request ended and the same open counts as the
    /// last quiet one costs a read and a counter: most services are idle most seconds, and the sampler visits all.
    /// </summary>
    public (long Requests, long BytesIn, long BytesOut) Sample(long unixSeconds, double webSocketsOpen, double tcpOpen, Span<double> point)
    {
        // Record counts the request before anything else, so no request means nothing else was recorded either (one
        // racing with this read is counted next second, whole).
        if (_quiet && Volatile.Read(ref _requests) == 0 && webSocketsOpen == _quietWebSockets && tcpOpen == _quietTcp)
        {
            point.Clear();
            (point[6], point[7]) = (webSocketsOpen, tcpOpen);
            Ring.Repeat(unixSeconds);
            return default;
        }
        var requests = Interlocked.Exchange(ref _requests, 0);
        var errors = Interlocked.Exchange(ref _errors, 0);
        var bytesIn = Interlocked.Exchange(ref _bytesIn, 0);
        var bytesOut = Interlocked.Exchange(ref _bytesOut, 0);
        var (p50, p99) = _latency.TakePercentiles();
        ReadOnlySpan<double> values = [requests, errors, p50, p99, bytesIn, bytesOut, webSocketsOpen, tcpOpen];
        values.CopyTo(point);
        Ring.Add(unixSeconds, values);
        _quiet = (requests | errors | bytesIn | bytesOut) == 0 && p50 == 0 && p99 == 0;
        (_quietWebSockets, _quietTcp) = (webSocketsOpen, tcpOpen);
        return (requests, bytesIn, bytesOut);
    }
}
