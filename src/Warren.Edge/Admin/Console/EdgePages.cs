using System.Globalization;
using Microsoft.AspNetCore.Http;
using Warren.Admin;
using Warren.Edge.Agents;
using Warren.Edge.RequestLog;

namespace Warren.Edge.Admin.Console;

/// <summary>What the edge's console pages share: the navigation and the formats of times, durations and rows.</summary>
internal static class EdgePages
{
    public static readonly ConsoleFrame Frame = new("edge",
    [
        ("/console", "Overview"),
        ("/console/requests", "Requests"),
        ("/console/traffic", "Traffic"),
        ("/console/tokens", "Tokens"),
    ]);

    public static string E(string? text) => Html.Encode(text);

    public static string Time(DateTimeOffset time) => time.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture);

    public static string Ms(double ms) => ms < 10 ? ms.ToString("0.00", CultureInfo.InvariantCulture) : ms.ToString("0", CultureInfo.InvariantCulture);

    public static string N(long n) => n.ToString("N0", CultureInfo.InvariantCulture);

    public static string SessionName(AgentSession s) => $"{s.AgentName}#{s.Id.ToString(CultureInfo.InvariantCulture)}";

    public static string SessionLink(AgentSession s) => $"<a href=\"/console/sessions/{s.Id.ToString(CultureInfo.InvariantCulture)}\">{E(SessionName(s))}</a>";

    public static string ServiceLink(string? name) => name is null ? "<span class=\"muted\">–</span>" : $"<a href=\"/console/services/{Uri.EscapeDataString(name)}\">{E(name)}</a>";

    public static string StatusBadge(int status, string error)
    {
        var cls = error.Length > 0 || status >= 500 ? "bad" : status >= 400 ? "warn" : "ok";
        return $"<span class=\"badge {cls}\">{(status == 0 ? "–" : status.ToString(CultureInfo.InvariantCulture))}</span>";
    }

    /// <summary>Rows of the request log as a table; ids link to the inspector when it holds the exchange.</summary>
    public static string RequestTable(IReadOnlyList<LoggedRequest> rows, Func<long, bool> inspected)
    {
        if (rows.Count == 0)
        {
            return "<p class=\"muted\">No requests match.</p>";
        }
        var html = new System.Text.StringBuilder("""
            <table class="requests"><thead><tr><th>Time (UTC)</th><th>Kind</th><th>Service</th><th>Method</th><th>Host / path</th><th>Status</th>
            <th class="num">ms</th><th class="num">In</th><th class="num">Out</th><th>Client</th><th>Session</th><th>Error</th><th></th></tr></thead><tbody>
            """);
        foreach (var r in rows)
        {
            var id = r.Id.ToString(CultureInfo.InvariantCulture);
            html.Append(CultureInfo.InvariantCulture, $"""
                <tr data-id="{id}"><td class="mono">{Time(r.Time)}</td><td>{E(r.Kind)}</td><td>{ServiceLink(r.Service)}</td><td>{E(r.Method ?? "")}</td>
                <td class="mono">{E(r.Host)}{E(r.Path)}</td><td>{StatusBadge(r.Status, r.Error)}</td><td class="num">{Ms(r.DurationMs)}</td>
                <td class="num">{Html.Bytes(r.BytesIn)}</td><td class="num">{Html.Bytes(r.BytesOut)}</td><td class="mono">{E(r.Client ?? "–")}</td>
                <td>{E(r.Session ?? "–")}</td><td class="bad">{E(r.Error)}</td>
                <td>{(inspected(r.Id) ? $"<a href=\"/console/inspector/{id}\">inspect</a>" : "")}</td></tr>
                """);
        }
        return html.Append("</tbody></table>").ToString();
    }

    public static Task WriteAsync(HttpContext context, string title, string body, int status = StatusCodes.Status200OK) =>
        Html.WriteAsync(context, status, Html.Page(context, Frame, title, body));

    public static Task NotFoundAsync(HttpContext context, string what) =>
        WriteAsync(context, "Not found", $"<h1>Not found</h1><p>{E(what)}</p>", StatusCodes.Status404NotFound);
}
