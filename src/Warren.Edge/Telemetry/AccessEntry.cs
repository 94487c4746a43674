using System.Collections.Immutable;
using System.Net;
using Warren.Edge.Agents;
using Warren.Edge.Routing;

namespace Warren.Edge.Telemetry;

/// <summary>
/// One access-log line as the request path records it: references and numbers only, taken where they are at hand.
/// Bounding, escaping and formatting happen on <see cref="AccessLogWriter"/>'s background task, off the socket thread.
/// </summary>
internal readonly record struct AccessEntry(
    DateTime Utc,
    string Service,
    bool Tcp,
    string? Method,
    string? Host,
    string? Path,
    int StatusOrPort,
    string? Result,
    double DurationMs,
    long BytesIn,
    long BytesOut,
    IPAddress? Client,
    ImmutableArray<AgentSession> Sessions,
    AgentSession? Session)
{
    public static AccessEntry Http(string service, string method, string host, string path, int status, double durationMs,
        long bytesIn, long bytesOut, IPAddress? client, ServiceEntry? entry) =>
        new(DateTime.UtcNow, service, Tcp: false, method, host, path, status, null, durationMs, bytesIn, bytesOut, client, entry?.Sessions ?? [], null);

    public static AccessEntry Connection(string service, int port, string result, double durationMs, long bytesIn, long bytesOut,
        IPAddress? client, AgentSession? session) =>
        new(DateTime.UtcNow, service, Tcp: true, null, null, null, port, result, durationMs, bytesIn, bytesOut, client, [], session);
}
