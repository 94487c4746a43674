namespace Warren.Edge.Inspector;

/// <summary>What the inspector kept of one exchange (docs/console.md, "Inspector"); its id is the request log row's.</summary>
internal sealed class Capture(long id, DateTimeOffset time, string service, string kind, int maxBody)
{
    private readonly Lock _lock = new();
    private readonly List<CaptureEvent> _events = [];
    private int _droppedEvents;

    /// <summary>WebSocket messages and TCP timeline entries kept per exchange at most (older ones are counted, not kept).</summary>
    public const int MaxEvents = 500;

    public long Id { get; } = id;
    public DateTimeOffset Time { get; } = time;
    public string Service { get; } = service;

    /// <summary>"http", "websocket", "tcp" or "replay".</summary>
    public string Kind { get; set; } = kind;

    public string Method { get; init; } = "";
    public string Scheme { get; init; } = "http";
    public string Host { get; init; } = "";
    public string PathAndQuery { get; init; } = "";
    public string? Client { get; init; }
    public IReadOnlyList<KeyValuePair<string, string>> RequestHeaders { get; init; } = [];
    public BodyCapture RequestBody { get; } = new(maxBody);
    public BodyCapture ResponseBody { get; } = new(maxBody);

    public int Status { get; set; }
    public IReadOnlyList<KeyValuePair<string, string>> ResponseHeaders { get; set; } = [];
    public double? DurationMs { get; set; }
    public string Error { get; set; } = "";
    public long BytesIn { get; set; }
    public long BytesOut { get; set; }

    /// <summary>Set when the console made this exchange by replaying another.</summary>
    public long? ReplayOf { get; init; }

    public void AddEvent(CaptureEvent e)
    {
        lock (_lock)
        {
            if (_events.Count >= MaxEvents)
            {
                _events.RemoveAt(0);
                _droppedEvents++;
            }
            _events.Add(e);
        }
    }

    public (IReadOnlyList<CaptureEvent> Events, int Dropped) Events()
    {
        lock (_lock)
        {
            return ([.. _events], _droppedEvents);
        }
    }
}

/// <summary>A WebSocket message or a TCP connection's moment: when, which way ("client→service"), what, and how big.</summary>
internal sealed record CaptureEvent(DateTimeOffset Time, string Direction, string What, long Bytes);
