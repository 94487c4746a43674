using System.Text.Json;

namespace Warren.Admin;

/// <summary>
/// One chart's data on the console: the last <see cref="Capacity"/> one-second samples of a fixed vector of values
/// (requests/s, errors/s, ...). Written by the console's sampler once a second, read by the event stream; never
/// touched on the request path.
/// </summary>
internal sealed class SeriesRing(int width, int capacity = 120)
{
    private readonly long[] _times = new long[capacity];
    private readonly double[][] _values = [.. Enumerable.Range(0, capacity).Select(_ => new double[width])];
    private readonly Lock _lock = new();
    private int _count;
    private int _next;

    public int Capacity { get; } = capacity;

    public int Width { get; } = width;

    public void Add(long unixSeconds, ReadOnlySpan<double> sample)
    {
        lock (_lock)
        {
            _times[_next] = unixSeconds;
            sample[..Math.Min(sample.Length, Width)].CopyTo(_values[_next]);
            _next = (_next + 1) % Capacity;
            _count = Math.Min(_count + 1, Capacity);
        }
    }

    /// <summary>The newest sample, or null before the first.</summary>
    public double[]? Latest()
    {
        lock (_lock)
        {
            return _count == 0 ? null : (double[])_values[(_next - 1 + Capacity) % Capacity].Clone();
        }
    }

    /// <summary>Writes the newest sample as a JSON array (a live event's point).</summary>
    public void WriteLatest(Utf8JsonWriter json)
    {
        lock (_lock)
        {
            json.WriteStartArray();
            if (_count > 0)
            {
                foreach (var v in _values[(_next - 1 + Capacity) % Capacity])
                {
                    json.WriteNumberValue(Math.Round(v, 3));
                }
            }
            json.WriteEndArray();
        }
    }

    /// <summary>Writes the whole history as {"t": [...], "v": [[...], ...]}, oldest first (a live stream's first event).</summary>
    public void WriteHistory(Utf8JsonWriter json)
    {
        lock (_lock)
        {
            json.WriteStartObject();
            json.WriteStartArray("t");
            for (var i = 0; i < _count; i++)
            {
                json.WriteNumberValue(_times[Index(i)]);
            }
            json.WriteEndArray();
            json.WriteStartArray("v");
            for (var i = 0; i < _count; i++)
            {
                json.WriteStartArray();
                foreach (var v in _values[Index(i)])
                {
                    json.WriteNumberValue(Math.Round(v, 3));
                }
                json.WriteEndArray();
            }
            json.WriteEndArray();
            json.WriteEndObject();
        }
    }

    private int Index(int i) => (_next - _count + i + Capacity) % Capacity;
}
