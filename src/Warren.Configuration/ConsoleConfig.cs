namespace Warren.Configuration;

/// <summary>edge.yaml <c>request_log</c>: the persistent request log (docs/console.md, "Request log").</summary>
public sealed record RequestLogConfig
{
    /// <summary>YAML key <c>enabled</c>: one row per HTTP request, WebSocket and TCP connection in <c>{data}/requests.db</c>.</summary>
    public bool Enabled { get; init; } = true;

    /// <summary>YAML key <c>retention</c>: rows older than this are deleted (checked every minute). 1h to 8760h (a year).</summary>
    public TimeSpan Retention { get; init; } = TimeSpan.FromDays(7);

    /// <summary>YAML key <c>max_size</c>: above this the oldest rows are deleted until the file is under it again. 1MB to 1TB.</summary>
    public long MaxSize { get; init; } = 1L << 30;

    /// <summary>
    /// YAML key <c>queue</c>: records waiting for the background writer. A full queue drops the record (counted in
    /// warren_request_log_dropped_total) rather than slow the request: 16,384 is over a second of traffic at full speed
    /// on 2 cores, at about 100 bytes each. 64 to 1,048,576.
    /// </summary>
    public int Queue { get; init; } = 16_384;
}

/// <summary>edge.yaml <c>inspector</c>: what the console keeps of requests to services being inspected (docs/console.md, "Inspector").</summary>
public sealed record InspectorConfig
{
    /// <summary>YAML key <c>services</c>: services inspected from the start (the console turns it on and off for any service). Default: none.</summary>
    public IReadOnlyList<string> Services { get; init; } = [];

    /// <summary>YAML key <c>max_body</c>: bytes kept of each request and response body (the rest is streamed and only counted). 0 to 1MiB.</summary>
    public long MaxBody { get; init; } = 16 * 1024;

    /// <summary>YAML key <c>max_requests</c>: exchanges kept per inspected service, in memory; older ones are forgotten. 1 to 10,000.</summary>
    public int MaxRequests { get; init; } = 100;

    /// <summary>YAML key <c>show_headers</c>: sensitive headers (Authorization, Cookie, ...) the inspector keeps in clear anyway. Default: none.</summary>
    public IReadOnlyList<string> ShowHeaders { get; init; } = [];
}

/// <summary>edge.yaml <c>tokens[].quota</c> (and <c>warren token create --quota-daily/--quota-monthly</c>): bytes a token's services may move (docs/console.md, "Quotas").</summary>
public sealed record QuotaConfig
{
    /// <summary>A quota below 1 MB would be used up by a handful of requests' headers: surely a typo.</summary>
    public const long Minimum = 1_000_000;

    /// <summary>YAML key <c>daily</c>: bytes per UTC day, both directions together; null: no daily quota.</summary>
    public long? Daily { get; init; }

    /// <summary>YAML key <c>monthly</c>: bytes per UTC calendar month; null: no monthly quota.</summary>
    public long? Monthly { get; init; }
}
