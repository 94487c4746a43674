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
    // Seconds that repeated the newest point (Repeat), not written yet: a quiet chart costs the sampler a counter
    // bump instead of a copy into a cold array. Written out, ending at _repeatedThrough, before anything reads or adds.
    private int _repeats;
    private long _repeatedThrough;

    public int Capacity { get; } = capacity;

    public int Width { get; } = width;

    public void Add(long unixSeconds, ReadOnlySpan<double> sample)
    {
        lock (_lock)
        {
            WriteRepeats();
            Append(unixSeconds, sample);
        }
    }

    /// <summary>
    /// A sample equal to the newest one, at <paramref name="unixSeconds"/> (a service with no traffic this second).
    /// Only counted here; readers see it as a point like any other. Ignored before the first sample.
    /// </summary>
    public void Repeat(long unixSeconds)
    {
        lock (_lock)
        {
            if (_count > 0)
            {
                _repeats = Math.Min(_repeats + 1, Capacity);
                _repeatedThrough = unixSeconds;
            }
        }
    }

    private int Newest => (_next - 1 + Capacity) % Capacity;

    private void Append(long unixSeconds, ReadOnlySpan<double> sample)
    {
        _times[_next] = unixSeconds;
        sample[..Math.Min(sample.Length, Width)].CopyTo(_values[_next]);
        _next = (_next + 1) % Capacity;
        _count = Math.Min(_count + 1, Capacity);
    }

    /// <summary>Writes the counted repeats out as points, one second apart, the last at the last repeat's time.</summary>
    private void WriteRepeats()
    {
        for (; _repeats > 0; _repeats--)
        {
            Append(_repeatedThrough - _repeats + 1, _values[Newest]);
        }
    }

    /// <summary>Writes the newest sample as a JSON array (a live event's point).</summary>
    public void WriteLatest(Utf8JsonWriter json)
    {
        lock (_lock)
        {
            WriteRepeats();
            json.WriteStartArray();
            if (_count > 0)
            {
                foreach (var v in _values[Newest])
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
            WriteRepeats();
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
