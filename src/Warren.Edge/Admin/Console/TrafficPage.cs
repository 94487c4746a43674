using System.Globalization;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Warren.Admin;
using Warren.Edge.Dashboard;
using static Warren.Edge.Admin.Console.EdgePages;

namespace Warren.Edge.Admin.Console;

/// <summary>/console/traffic: bytes and requests per token and per service, per hour or per day, and the tokens' quotas (docs/console.md, "Traffic").</summary>
internal static class TrafficPage
{
    public static async Task RenderAsync(HttpContext context, EdgeConsole console)
    {
        var daily = context.Request.Query["by"] == "day";
        var now = DateTimeOffset.UtcNow;
        var hours = daily ? 24 * 31 : 48;
        var from = now.ToUnixTimeSeconds() / 3600 - hours + 1;
        var rows = await console.Database.RunAsync(() => console.Accounting.Store.Query(from, daily ? 24 : 1)).ConfigureAwait(false);
        var html = new StringBuilder("<h1>Traffic</h1>");
        html.Append(CultureInfo.InvariantCulture, $"""
            <p>{(daily ? "<a href=\"/console/traffic\">Per hour (48 h)</a> · <strong>Per day (31 days)</strong>" : "<strong>Per hour (48 h)</strong> · <a href=\"/console/traffic?by=day\">Per day (31 days)</a>")}
            <span class="muted">· UTC · written every {TrafficAccountingInterval()} s; the last seconds show after the next write.</span></p>
            """);
        html.Append("<h2>Tokens and quotas</h2><table class=\"quotas\"><thead><tr><th>Token</th><th class=\"num\">Today</th><th class=\"num\">This month</th><th>Daily quota</th><th>Monthly quota</th><th>Used</th><th></th></tr></thead><tbody>");
        foreach (var account in console.Accounting.Accounts.OrderBy(a => a.Name, StringComparer.Ordinal))
        {
            var ratio = account.UsedRatio;
            var state = account.Exceeded is not null ? "<span class=\"badge bad\">over quota</span>" : ratio >= 0.8 ? "<span class=\"badge warn\">over 80 %</span>" : "";
            html.Append(CultureInfo.InvariantCulture, $"""
                <tr data-token="{E(account.Name)}"><td>{E(account.Name)}</td><td class="num">{Html.Bytes(account.UsedToday)}</td><td class="num">{Html.Bytes(account.UsedThisMonth)}</td>
                <td>{(account.Quota?.Daily is { } d ? Html.Bytes(d) : "–")}</td><td>{(account.Quota?.Monthly is { } m ? Html.Bytes(m) : "–")}</td>
                <td>{(ratio is { } r ? $"<meter min=\"0\" max=\"1\" low=\"0.8\" high=\"0.99\" optimum=\"0\" value=\"{Math.Min(1, r).ToString("0.###", CultureInfo.InvariantCulture)}\"></meter> {r.ToString("P0", CultureInfo.InvariantCulture)}" : "–")}</td>
                <td>{state}</td></tr>
                """);
        }
        html.Append("</tbody></table>");
        // Today's totals: in a cluster every edge's (docs/cluster.md, "Shared counts"), below this edge's own hours.
        html.Append("<h2>Today (UTC)</h2><table class=\"today\"><thead><tr><th>Token or service</th><th class=\"num\">Requests</th><th class=\"num\">Bytes</th></tr></thead><tbody>");
        foreach (var ((scope, name), traffic) in console.Accounting.Today.OrderBy(t => t.Key.Scope, StringComparer.Ordinal).ThenBy(t => t.Key.Name, StringComparer.Ordinal))
        {
            var (requests, bytes) = traffic.Total;
            html.Append(CultureInfo.InvariantCulture, $"""
                <tr data-today="{E(scope)}:{E(name)}"><td>{E(scope)} {(scope == "service" ? ServiceLink(name) : E(name))}</td><td class="num">{N(requests)}</td><td class="num">{Html.Bytes(bytes)}</td></tr>
                """);
        }
        html.Append("</tbody></table>");
        foreach (var scope in new[] { "token", "service" })
        {
            var groups = rows.Where(r => r.Scope == scope).GroupBy(r => r.Name).OrderBy(g => g.Key, StringComparer.Ordinal).ToArray();
            html.Append(CultureInfo.InvariantCulture, $"<h2>Per {scope}</h2>");
            if (groups.Length == 0)
            {
                html.Append("<p class=\"muted\">No traffic recorded in this period.</p>");
                continue;
            }
            html.Append("<div class=\"charts\">");
            foreach (var group in groups)
            {
                var points = group.OrderBy(r => r.Bucket).ToArray();
                var data = JsonSerializer.Serialize(new[]
                {
                    points.Select(p => (double)p.Bucket * 3600).ToArray(),
                    points.Select(p => (double)p.BytesIn).ToArray(),
                    points.Select(p => (double)p.BytesOut).ToArray(),
                    points.Select(p => (double)p.Requests).ToArray(),
                }, ConsoleJson.Default.DoubleArrayArray);
                html.Append(CultureInfo.InvariantCulture, $"""
                    <div class="card" data-traffic="{E(scope)}:{E(group.Key)}"><h3>{(scope == "service" ? ServiceLink(group.Key) : E(group.Key))}</h3>
                    <div class="stats"><div><span>In</span><span>{Html.Bytes(points.Sum(p => p.BytesIn))}</span></div><div><span>Out</span><span>{Html.Bytes(points.Sum(p => p.BytesOut))}</span></div>
                    <div><span>Requests</span><span>{N(points.Sum(p => p.Requests))}</span></div></div>
                    {Html.Chart(scope + ":" + group.Key, "0,1", $"bytes in per {(daily ? "day" : "hour")},bytes out per {(daily ? "day" : "hour")}", "bytes", 120, data: data)}
                    </div>
                    """);
            }
            html.Append("</div>");
        }
        await WriteAsync(context, "Traffic", html.ToString()).ConfigureAwait(false);
    }

    private static int TrafficAccountingInterval() => (int)Warren.Edge.Accounting.TrafficAccounting.FlushInterval.TotalSeconds;
}
