using System.CommandLine;
using System.Globalization;
using System.Net.Http;
using System.Text;
using System.Text.Json;

namespace Warren.Cli.Commands;

/// <summary>
/// <c>warren status [--admin 127.0.0.1:9090] [--admin-token TOKEN]</c>: reads /api/status from an edge's (or agent's)
/// admin address and prints its sessions and services as tables. The token (else WARREN_ADMIN_TOKEN) is sent as
/// <c>Authorization: Bearer</c>. Exit 1 with a clear message when nothing answers there or the token is refused.
/// </summary>
internal static class StatusCommand
{
    public const string DefaultAdmin = "127.0.0.1:9090";

    public static Command Create()
    {
        var command = new Command("status", "Show the sessions and services of a running edge or agent");
        var address = new AdminAddress().AddTo(command);
        command.SetAction((parse, cancellationToken) =>
        {
            var (admin, token) = address.Read(parse);
            return RunAsync(admin, token, Console.Out, Console.Error, cancellationToken);
        });
        return command;
    }

    /// <summary>The same variable that sets admin_token for the edge and agent.</summary>
    public const string TokenVariable = "WARREN_ADMIN_TOKEN";

    public static async Task<int> RunAsync(string admin, string? token, TextWriter output, TextWriter error, CancellationToken cancellationToken)
    {
        var baseUri = admin.Contains("://", StringComparison.Ordinal) ? admin.TrimEnd('/') : "http://" + admin;
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        string json;
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(baseUri + "/api/status"));
            if (!string.IsNullOrEmpty(token))
            {
                request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
            }
            using var response = await http.SendAsync(request, cancellationToken).ConfigureAwait(false);
            if (response.StatusCode == System.Net.HttpStatusCode.Unauthorized)
            {
                var why = string.IsNullOrEmpty(token) ? $"it needs the admin token: pass --admin-token or set {TokenVariable}" : "the admin token was refused";
                await error.WriteLineAsync($"warren status: {baseUri}/api/status answered 401 Unauthorized: {why}").ConfigureAwait(false);
                return 1;
            }
            if (!response.IsSuccessStatusCode)
            {
                await error.WriteLineAsync($"warren status: {baseUri}/api/status answered {(int)response.StatusCode} {response.ReasonPhrase}").ConfigureAwait(false);
                return 1;
            }
            json = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or UriFormatException)
        {
            await error.WriteLineAsync($"warren status: no answer from the admin address {admin} ({ex.Message}). Is the edge or agent running, and is its admin listener there? Try --admin HOST:PORT").ConfigureAwait(false);
            return 1;
        }
        try
        {
            using var document = JsonDocument.Parse(json);
            await output.WriteAsync(Render(document.RootElement)).ConfigureAwait(false);
            return 0;
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException or KeyNotFoundException)
        {
            await error.WriteLineAsync($"warren status: {baseUri}/api/status did not return Warren's status JSON: {ex.Message}").ConfigureAwait(false);
            return 1;
        }
    }

    internal static string Render(JsonElement root)
    {
        var text = new StringBuilder();
        var role = Str(root, "role") is { Length: > 0 } r ? r : "edge";
        var sessions = root.GetProperty("sessions").EnumerateArray().ToList();
        var services = root.GetProperty("services").EnumerateArray().ToList();
        var ready = root.TryGetProperty("ready", out var readyValue) && readyValue.ValueKind == JsonValueKind.True;
        text.Append(CultureInfo.InvariantCulture, $"{role}: {(ready ? "ready" : "NOT READY")}, {sessions.Count} session(s), {services.Count} service(s)\n\n");

        text.Append("SESSIONS\n");
        RenderSessions(text, sessions);

        text.Append("\nSERVICES\n");
        Table(text, ["NAME", "OWNER", "KIND", "HOSTNAMES / PORT", "SESSIONS", "REQ/S", "ERR/S"], services.Select(s => new[]
        {
            Str(s, "name"),
            Str(s, "owner"),
            Str(s, "kind"),
            s.TryGetProperty("port", out var port) && port.ValueKind == JsonValueKind.Number
                ? ":" + port.GetInt32().ToString(CultureInfo.InvariantCulture)
                : s.TryGetProperty("hostnames", out var hosts) && hosts.ValueKind == JsonValueKind.Array ? string.Join(",", hosts.EnumerateArray().Select(h => h.GetString())) : "-",
            Str(s, "sessions"),
            Str(s, "request_rate"),
            Str(s, "error_rate"),
        }));

        if (root.TryGetProperty("certificates", out var certificates) && certificates.ValueKind == JsonValueKind.Array)
        {
            // ACME certificates (docs/https.md): a failing renewal shows here with its error and the next try.
            text.Append("\nCERTIFICATES\n");
            Table(text, ["NAME", "SOURCE", "STATE", "EXPIRES", "RENEW AT", "NEXT TRY", "FAILURES", "LAST ERROR"], certificates.EnumerateArray().Select(c => new[]
            {
                Str(c, "name"),
                Str(c, "source"),
                Str(c, "state"),
                Time(c, "not_after"),
                Time(c, "renew_at"),
                Time(c, "next_attempt"),
                Str(c, "failures"),
                Str(c, "last_error"),
            }));
        }
        if (root.TryGetProperty("cluster", out var cluster) && cluster.ValueKind == JsonValueKind.Object)
        {
            // The edges of the cluster (docs/cluster.md, "Status"), as this edge's registry sees them.
            text.Append(CultureInfo.InvariantCulture, $"\nCLUSTER (this edge: {Str(cluster, "edge")}, Redis {Str(cluster, "redis")})\n");
            Table(text, ["EDGE", "ADDRESS", "SESSIONS", "HEARTBEAT", "SERVICES"], cluster.GetProperty("edges").EnumerateArray().Select(e => new[]
            {
                Str(e, "name") + (e.TryGetProperty("self", out var self) && self.ValueKind == JsonValueKind.True ? " (this)" : ""),
                Str(e, "advertise"),
                Str(e, "sessions"),
                Time(e, "heartbeat_at"),
                e.TryGetProperty("services", out var list) && list.ValueKind == JsonValueKind.Array ? string.Join(",", list.EnumerateArray().Select(x => x.GetString())) : "-",
            }));
        }
        return text.ToString();
    }

    /// <summary>The sessions table (also what <c>warren sessions</c> prints).</summary>
    internal static void RenderSessions(StringBuilder text, IEnumerable<JsonElement> sessions)
    {
        var now = DateTimeOffset.UtcNow;
        Table(text, ["ID", "AGENT", "TOKEN", "REMOTE", "LINK", "CONNECTED", "RTT", "STREAMS", "SERVICES"], sessions.Select(s => new[]
        {
            Str(s, "id"),
            Str(s, "agent"),
            Str(s, "token"),
            Str(s, "remote"),
            Str(s, "link"), // absent from an edge before 2026-12-08: "-"
            s.TryGetProperty("connected_at", out var at) && at.TryGetDateTimeOffset(out var since)
                ? $"{since.ToUniversalTime():yyyy-MM-dd HH:mm:ss}Z ({Ago(now - since)})" : "-",
            s.TryGetProperty("rtt_ms", out var rtt) ? string.Create(CultureInfo.InvariantCulture, $"{rtt.GetDouble():0.0} ms") : "-",
            Str(s, "streams"),
            s.TryGetProperty("services", out var list) ? string.Join(",", list.EnumerateArray().Select(x => x.GetString())) : "-",
        }));
    }

    internal static string Str(JsonElement element, string name) =>
        !element.TryGetProperty(name, out var value) ? "-" : value.ValueKind switch
        {
            JsonValueKind.String => value.GetString() ?? "-",
            JsonValueKind.Number => value.GetRawText(),
            JsonValueKind.True => "yes",
            JsonValueKind.False => "no",
            _ => "-",
        };

    private static string Time(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String && value.TryGetDateTimeOffset(out var at)
            ? $"{at.ToUniversalTime():yyyy-MM-dd HH:mm}Z"
            : "-";

    private static string Ago(TimeSpan span) => span.TotalSeconds < 0 ? "just now"
        : span.TotalMinutes < 1 ? $"{(int)span.TotalSeconds}s ago"
        : span.TotalHours < 1 ? $"{(int)span.TotalMinutes}m ago"
        : span.TotalDays < 1 ? $"{(int)span.TotalHours}h{span.Minutes:00}m ago"
        : $"{(int)span.TotalDays}d{span.Hours:00}h ago";

    internal static void Table(StringBuilder text, string[] headers, IEnumerable<string[]> rows)
    {
        var all = rows.ToList();
        if (all.Count == 0)
        {
            text.Append("  (none)\n");
            return;
        }
        var widths = headers.Select((h, i) => Math.Max(h.Length, all.Max(r => r[i].Length))).ToArray();
        void Line(string[] cells) => text.Append("  ").Append(string.Join("  ", cells.Select((c, i) => i == cells.Length - 1 ? c : c.PadRight(widths[i])))).Append('\n');
        Line(headers);
        foreach (var row in all)
        {
            Line(row);
        }
    }
}
