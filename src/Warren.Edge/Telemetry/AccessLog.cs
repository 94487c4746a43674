using System.Collections.Immutable;
using Microsoft.Extensions.Logging;
using Warren.Edge.Agents;

namespace Warren.Edge.Telemetry;

/// <summary>
/// One line per HTTP request and per TCP connection, category <see cref="Category"/> at Information. Paths are
/// logged without the query string (it carries tokens often enough); fields are structured, so the JSON console
/// (<c>--log-format json</c>) writes each as its own property.
/// </summary>
internal static partial class AccessLog
{
    public const string Category = "Warren.Access";

    /// <summary>Sessions serving the service, as agent#id (one is the common case; several are joined with '+').</summary>
    public static string SessionsOf(ImmutableArray<AgentSession> sessions)
    {
        return sessions.Length switch
        {
            0 => "-",
            1 => sessions[0].LogName,
            _ => string.Join('+', sessions.Select(s => s.LogName)),
        };
    }

    [LoggerMessage(900, LogLevel.Information,
        "{Service} {Method} {Host}{Path} {Status} {DurationMs:0.###}ms in={BytesIn} out={BytesOut} client={Client} session={Session}", EventName = "HttpAccess")]
    public static partial void Http(ILogger logger, string service, string method, string host, string path, int status,
        double durationMs, long bytesIn, long bytesOut, string client, string session);

    [LoggerMessage(901, LogLevel.Information,
        "{Service} TCP :{Port} {Result} {DurationMs:0.###}ms in={BytesIn} out={BytesOut} client={Client} session={Session}", EventName = "TcpAccess")]
    public static partial void Tcp(ILogger logger, string service, int port, string result,
        double durationMs, long bytesIn, long bytesOut, string client, string session);
}
