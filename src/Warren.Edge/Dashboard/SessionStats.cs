using Warren.Admin;
using Warren.Protocol.Session;

namespace Warren.Edge.Dashboard;

/// <summary>One agent session's chart: streams open, RTT, link bytes each way per second (read from the session, never counted on the request path).</summary>
internal sealed class SessionStats
{
    public const int Width = 4;

    private long _sent, _received;

    public SeriesRing Ring { get; } = new(Width);

    public void Sample(long unixSeconds, MuxSession mux)
    {
        var counters = mux.Counters;
        var sent = counters.BytesSent - _sent;
        var received = counters.BytesReceived - _received;
        var first = _sent == 0 && _received == 0;
        (_sent, _received) = (counters.BytesSent, counters.BytesReceived);
        Span<double> point = [mux.StreamCount, mux.SmoothedRtt.TotalMilliseconds, first ? 0 : sent, first ? 0 : received];
        Ring.Add(unixSeconds, point);
    }
}
