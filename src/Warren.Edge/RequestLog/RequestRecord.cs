using System.Net;

namespace Warren.Edge.RequestLog;

/// <summary>What a row of the request log is about.</summary>
internal enum RecordKind
{
    Http,
    WebSocket,
    Tcp,

    /// <summary>A request the console replayed (docs/console.md, "Inspector").</summary>
    Replay,
}

/// <summary>
/// One row of the request log, as the request path hands it over: references to strings and objects that exist
/// already (the method, the Host header, the path, the service's name, the client's address), so making one
/// allocates nothing. The writer turns them into text off the request path.
/// </summary>
internal readonly record struct RequestRecord(
    long Id,
    long UnixMillis,
    RecordKind Kind,
    string? Service,
    string? Token,
    string? Method,
    string? Host,
    string? Path,
    int Status,
    long DurationMicros,
    long BytesIn,
    long BytesOut,
    IPAddress? Client,
    Agents.AgentSession? Session,
    string Error);
