using Warren.Admin;
using Warren.Edge.Accounting;
using Warren.Edge.Inspector;
using Warren.Edge.Routing;

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

    /// <summary>Closes the current second: a point on the chart, and what it counted for the accounting.</summary>
    public (long Requests, long BytesIn, long BytesOut) Sample(long unixSeconds, double webSocketsOpen, double tcpOpen)
    {
        var requests = Interlocked.Exchange(ref _requests, 0);
        var errors = Interlocked.Exchange(ref _errors, 0);
        var bytesIn = Interlocked.Exchange(ref _bytesIn, 0);
        var bytesOut = Interlocked.Exchange(ref _bytesOut, 0);
        var (p50, p99) = _latency.TakePercentiles();
        Span<double> point = [requests, errors, p50, p99, bytesIn, bytesOut, webSocketsOpen, tcpOpen];
        Ring.Add(unixSeconds, point);
        return (requests, bytesIn, bytesOut);
    }
}
