using System.Text.Json;
using Warren.Admin;
using Warren.Edge.Accounting;
using Warren.Edge.Dashboard;
using Warren.Edge.Routing;
using Warren.Protocol.Tunnel;

namespace Warren.Edge.Tests.Dashboard;

/// <summary>
/// The console's once-a-second sampler: a quiet service's second is counted, not copied (so idle cost does not grow
/// with the services an edge knows), and every reader still sees one point per second.
/// </summary>
public sealed class ServiceStatsTests
{
    [Fact]
    public void Repeats_read_as_points_one_second_apart_ending_at_the_last_repeat()
    {
        var ring = new SeriesRing(2, capacity: 5);
        ring.Repeat(99); // nothing to repeat yet: ignored
        ring.Add(100, [1, 2]);
        ring.Repeat(101);
        ring.Repeat(102);

        var (times, values) = History(ring);
        Assert.Equal([100L, 101, 102], times);
        Assert.All(values, v => Assert.Equal([1.0, 2], v));

        ring.Add(103, [3, 4]);
        for (var t = 104; t <= 110; t++)
        {
            ring.Repeat(t); // more than the ring holds
        }
        (times, values) = History(ring);
        Assert.Equal([106L, 107, 108, 109, 110], times);
        Assert.All(values, v => Assert.Equal([3.0, 4], v));
    }

    [Fact]
    public void A_quiet_second_repeats_the_last_point_and_traffic_or_a_new_open_count_ends_the_repeat()
    {
        var stats = new ServiceStats(new ServiceEntry(1, "alice", new ServiceRegistration { Name = "web", Hostnames = ["app.test"] }), new TokenAccount("alice"));
        Span<double> point = stackalloc double[ServiceStats.Width];

        stats.Record(2_000, 10, 20, error: false);
        Assert.Equal((1L, 10L, 20L), stats.Sample(100, 0, 0, point));
        Assert.Equal(1, point[0]);
        Assert.Equal((0L, 0L, 0L), stats.Sample(101, 0, 0, point)); // the first quiet point is written
        Assert.Equal((0L, 0L, 0L), stats.Sample(102, 0, 0, point)); // this one is only counted
        Assert.Equal((0L, 0L, 0L), stats.Sample(103, 1, 0, point)); // a WebSocket opened: a new point
        Assert.Equal([0.0, 0, 0, 0, 0, 0, 1, 0], point.ToArray());
        Assert.Equal((0L, 0L, 0L), stats.Sample(104, 1, 0, point));
        stats.Record(500, 1, 2, error: true);
        Assert.Equal((1L, 1L, 2L), stats.Sample(105, 1, 0, point));
        Assert.Equal(1, point[1]); // the error

        var (times, values) = History(stats.Ring);
        Assert.Equal([100L, 101, 102, 103, 104, 105], times);
        Assert.All(values.Take(3), v => Assert.Equal(0, v[6]));
        Assert.All(values.Skip(3), v => Assert.Equal(1, v[6]));
        Assert.Equal([1.0, 0, 0, 0, 0, 1], values.Select(v => v[0]));
    }

    private static (long[] Times, double[][] Values) History(SeriesRing ring)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            ring.WriteHistory(json);
        }
        using var doc = JsonDocument.Parse(buffer.ToArray());
        return ([.. doc.RootElement.GetProperty("t").EnumerateArray().Select(e => e.GetInt64())],
            [.. doc.RootElement.GetProperty("v").EnumerateArray().Select(p => p.EnumerateArray().Select(e => e.GetDouble()).ToArray())]);
    }
}
