using System.Diagnostics;
using System.Net.Http;
using Warren.Configuration;
using Warren.Edge.Dashboard;
using Warren.Edge.Forwarding;
using Warren.Edge.RequestLog;
using Warren.Edge.Routing;

namespace Warren.Edge.Inspector;

/// <summary>
/// Replays a captured request, as it was or as the operator edited it, straight to the service through its agent
/// (the forwarder's own tunnel client), past the edge's policies: the operator is the one asking. The answer is
/// captured like any exchange (kind "replay", linked to the original) and logged (docs/console.md, "Replay").
/// </summary>
internal static class ReplaySender
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    /// <summary>Headers the client stack sets itself, or that describe a connection rather than the request.</summary>
    private static readonly string[] Skipped =
        ["Host", "Content-Length", "Transfer-Encoding", "Connection", "Keep-Alive", "Upgrade", "TE", "Trailer", "Proxy-Connection", "Expect"];

    public static bool IsSkipped(string name) => Skipped.Contains(name, StringComparer.OrdinalIgnoreCase);

    /// <summary>Checks the form; the error says which field is wrong.</summary>
    public static string? Problem(string method, string path, string headers, string body)
    {
        if (method.Length is 0 or > 16 || !method.All(char.IsAsciiLetterUpper))
        {
            return $"method '{method}' must be 1 to 16 capital letters (GET, POST, ...)";
        }
        if (!path.StartsWith('/') || path.StartsWith("//", StringComparison.Ordinal) || path.Length > 8192 || path.Any(char.IsControl) || path.Contains(' ', StringComparison.Ordinal))
        {
            return "the path must start with a single '/', hold no spaces or control characters, and be at most 8 KiB";
        }
        foreach (var line in Lines(headers))
        {
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon <= 0 || !line[..colon].All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' or '!' or '#' or '$' or '%' or '&' or '\'' or '*' or '+' or '^' or '`' or '|' or '~'))
            {
                return $"header line '{(line.Length > 80 ? line[..80] + "..." : line)}' is not 'Name: value'";
            }
        }
        return body.Length > 1 << 20 ? "the body is over 1 MiB" : null;
    }

    /// <summary>A replay is someone at the console waiting: it is sent on a session there is now, or fails at once.</summary>
    private static readonly GraceConfig NoGrace = new() { Timeout = TimeSpan.Zero };

    public static async Task<Capture> SendAsync(EdgeConsole console, ServiceEntry service, Capture original, string method, string path, string headers, string body,
        CancellationToken cancellationToken)
    {
        var id = console.NextId();
        var started = Stopwatch.GetTimestamp();
        var capture = new Capture(id, TimeProvider.System.GetUtcNow(), service.Name, "replay", console.Inspector.MaxBody)
        {
            Method = method,
            Host = original.Host,
            PathAndQuery = path,
            Client = "console",
            ReplayOf = original.Id,
            RequestHeaders = [.. Lines(headers).Select(l => KeyValuePair.Create(l[..l.IndexOf(':', StringComparison.Ordinal)].Trim(), l[(l.IndexOf(':', StringComparison.Ordinal) + 1)..].Trim()))],
        };
        var bytes = System.Text.Encoding.UTF8.GetBytes(body);
        capture.RequestBody.Append(bytes);
        using var request = new HttpRequestMessage(new HttpMethod(method), service.TunnelDestination + path.TrimStart('/'));
        request.Headers.Host = original.Host;
        var session = service.PickSession();
        if (session is not null)
        {
            // The tunnel client's connect callback opens its stream where this says (no address: the console asked).
            request.Options.Set(TunnelRequest.Key, new TunnelRequest(service, session, NoGrace, null, 0));
        }
        if (bytes.Length > 0 || method is "POST" or "PUT" or "PATCH")
        {
            request.Content = new ByteArrayContent(bytes);
        }
        foreach (var (name, value) in capture.RequestHeaders)
        {
            if (!IsSkipped(name) && !request.Headers.TryAddWithoutValidation(name, value))
            {
                request.Content ??= new ByteArrayContent([]);
                request.Content.Headers.TryAddWithoutValidation(name, value);
            }
        }
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(Timeout);
        try
        {
            if (session is null)
            {
                throw new HttpRequestException($"no agent session serves {service.Name}");
            }
            using var response = await console.Client.For(session).SendAsync(request, timeout.Token).ConfigureAwait(false);
            capture.Status = (int)response.StatusCode;
            capture.ResponseHeaders = [.. response.Headers.Concat(response.Content.Headers).Select(h => KeyValuePair.Create(h.Key, string.Join(", ", h.Value)))];
            var stream = await response.Content.ReadAsStreamAsync(timeout.Token).ConfigureAwait(false);
            await using (stream.ConfigureAwait(false))
            {
                var buffer = new byte[16 * 1024];
                int read;
                while (capture.ResponseBody.Total <= console.Inspector.MaxBody && (read = await stream.ReadAsync(buffer, timeout.Token).ConfigureAwait(false)) > 0)
                {
                    capture.ResponseBody.Append(buffer.AsSpan(0, read));
                }
            }
        }
        catch (Exception ex) when (ex is HttpRequestException or OperationCanceledException or IOException)
        {
            capture.Status = 502;
            capture.Error = ex is OperationCanceledException ? "timeout" : "replay failed: " + (ex.InnerException?.Message ?? ex.Message);
        }
        var elapsed = Stopwatch.GetElapsedTime(started);
        (capture.DurationMs, capture.BytesIn, capture.BytesOut) = (elapsed.TotalMilliseconds, bytes.Length, capture.ResponseBody.Total);
        console.For(service).Captures?.Add(capture);
        console.Log?.TryEnqueue(new RequestRecord(id, capture.Time.ToUnixTimeMilliseconds(), RecordKind.Replay, service.Name, service.Owner, method, original.Host,
            path.Split('?')[0], capture.Status, (long)(elapsed.TotalMilliseconds * 1000), bytes.Length, capture.ResponseBody.Total, null, null, capture.Error));
        return capture;
    }

    private static IEnumerable<string> Lines(string text) =>
        text.Split('\n').Select(l => l.TrimEnd('\r')).Where(l => l.Trim().Length > 0);
}
