using System.Collections.Concurrent;
using System.Diagnostics.Metrics;

namespace Warren.Edge.Telemetry;

/// <summary>
/// Why Kestrel ended connections with an error, read from its own instrument (kestrel.connection.duration, whose
/// <c>error.type</c> tag is Kestrel's fixed ConnectionEndReason list: min_request_body_data_rate,
/// min_response_data_rate, request_headers_timeout, stream_reset_limit_exceeded, ...). Only the instruments of this
/// edge's own meter factory are listened to, so several edges in one process (tests) each count their own. Published as
/// warren_edge_connection_errors_total{listener, reason}: how slow clients and HTTP/2 floods were cut off.
/// </summary>
internal sealed class KestrelConnectionErrors : IDisposable
{
    private const string KestrelMeter = "Microsoft.AspNetCore.Server.Kestrel";
    private const string ConnectionDuration = "kestrel.connection.duration";

    private readonly MeterListener _listener = new();
    private readonly ConcurrentDictionary<(string Listener, string Reason), long> _counts = new();
    private readonly Func<int, string> _listenerOf;

    /// <param name="meterFactory">The edge app's factory: Kestrel's meter is scoped to it.</param>
    /// <param name="listenerOf">Names the listener of a local port ("http", "https", "agents"; "other" when unknown).</param>
    public KestrelConnectionErrors(IMeterFactory meterFactory, Func<int, string> listenerOf)
    {
        _listenerOf = listenerOf;
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == KestrelMeter && instrument.Name == ConnectionDuration && ReferenceEquals(instrument.Meter.Scope, meterFactory))
            {
                listener.EnableMeasurementEvents(instrument, this);
            }
        };
        _listener.SetMeasurementEventCallback<double>(static (_, _, tags, state) => ((KestrelConnectionErrors)state!).OnConnectionEnded(tags));
        _listener.Start();
    }

    /// <summary>Connections ended with an error so far, by listener and Kestrel's reason.</summary>
    public IReadOnlyDictionary<(string Listener, string Reason), long> Counts => _counts;

    private void OnConnectionEnded(ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        string? reason = null;
        var port = 0;
        foreach (var tag in tags)
        {
            switch (tag.Key)
            {
                case "error.type":
                    reason = tag.Value as string;
                    break;
                case "server.port":
                    port = tag.Value is int p ? p : 0;
                    break;
            }
        }
        if (reason is not null)
        {
            _counts.AddOrUpdate((_listenerOf(port), reason), 1, static (_, n) => n + 1);
        }
    }

    public void Dispose() => _listener.Dispose();
}
