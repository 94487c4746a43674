using System.Numerics;

namespace Warren.Edge.Dashboard;

/// <summary>
/// Request durations of one service in the current second, for the console's p50 and p99: log-linear buckets (four
/// per doubling, so a percentile is within 12 % of the truth) from 1 µs to over half an hour. The request path does
/// one interlocked increment; the sampler takes and clears the counts once a second.
/// </summary>
internal sealed class LatencyHistogram
{
    public const int Buckets = 128;
    private readonly long[] _counts = new long[Buckets];

    public void Record(long micros) => Interlocked.Increment(ref _counts[Index(micros)]);

    /// <summary>Takes the counts and returns (p50, p99) in milliseconds; (0, 0) when nothing was recorded.</summary>
    public (double P50, double P99) TakePercentiles()
    {
        Span<long> counts = stackalloc long[Buckets];
        long total = 0;
        for (var i = 0; i < Buckets; i++)
        {
            counts[i] = Volatile.Read(ref _counts[i]) == 0 ? 0 : Interlocked.Exchange(ref _counts[i], 0);
            total += counts[i];
        }
        return total == 0 ? (0, 0) : (Percentile(counts, total, 0.50), Percentile(counts, total, 0.99));
    }

    internal static int Index(long micros)
    {
        if (micros < 4)
        {
            return (int)Math.Max(0, micros);
        }
        var log = BitOperations.Log2((ulong)micros);
        return Math.Min(Buckets - 1, (log << 2) | (int)((micros >> (log - 2)) & 3));
    }

    /// <summary>The middle of bucket <paramref name="index"/>, in microseconds.</summary>
    internal static double Middle(int index)
    {
        if (index < 4)
        {
            return index;
        }
        var log = index >> 2;
        var sub = index & 3;
        return ((4 + sub) << (log - 2)) + ((1L << (log - 2)) / 2.0);
    }

    private static double Percentile(ReadOnlySpan<long> counts, long total, double q)
    {
        var rank = (long)Math.Ceiling(q * total);
        long seen = 0;
        for (var i = 0; i < Buckets; i++)
        {
            seen += counts[i];
            if (seen >= rank)
            {
                return Middle(i) / 1000.0;
            }
        }
        return Middle(Buckets - 1) / 1000.0;
    }
}
