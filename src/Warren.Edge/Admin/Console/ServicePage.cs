using System.Globalization;
using System.Text;
using Microsoft.AspNetCore.Http;
using Warren.Admin;
using Warren.Edge.Dashboard;
using Warren.Edge.RequestLog;
using Warren.Edge.Routing;
using static Warren.Edge.Admin.Console.EdgePages;

namespace Warren.Edge.Admin.Console;

/// <summary>/console/services/NAME: registration, policy, quota, inspector switch, charts, last errors and captures (docs/console.md, "Service").</summary>
internal static class ServicePage
{
    public static async Task RenderAsync(HttpContext context, EdgeConsole console, ServiceEntry service)
    {
        var r = service.Registration;
        var key = "svc:" + service.Name;
        var stats = console.For(service);
        var account = stats.Account;
        var html = new StringBuilder();
        html.Append(CultureInfo.InvariantCulture, $"<div data-live=\"/console/events?scope={Uri.EscapeDataString(key)}\"></div>");
        html.Append(CultureInfo.InvariantCulture, $"<h1>Service {E(service.Name)} <span id=\"live-status\">connecting…</span></h1>");
        var layers = service.Policy?.Layers.Select(l => l.Name + " (" + string.Join(", ", Rules(l)) + ")").ToArray() ?? [];
        var quota = account.Quota is null ? "none" : string.Join(", ",
            new[] { account.Quota.Daily is { } d ? $"daily {Html.Bytes(d)} (used {Html.Bytes(account.UsedToday)})" : null,
                    account.Quota.Monthly is { } m ? $"monthly {Html.Bytes(m)} (used {Html.Bytes(account.UsedThisMonth)})" : null }.OfType<string>());
        html.Append(CultureInfo.InvariantCulture, $"""
            <dl class="details">
              <dt>Kind</dt><dd>{E(r.Kind)}</dd>
              <dt>{(r.Port is null ? "Hostnames" : "Port")}</dt><dd class="mono">{E(r.Port is { } port ? port.ToString(CultureInfo.InvariantCulture) : string.Join(", ", r.Hostnames))}</dd>
              <dt>Path prefix</dt><dd class="mono">{E(r.PathPrefix ?? "/")}</dd>
              <dt>Token (owner)</dt><dd>{E(service.Owner)}</dd>
              <dt>Sessions</dt><dd>{(service.Sessions.Length == 0 ? "<span class=\"bad\">none: requests get 503</span>" : string.Join(", ", service.Sessions.Select(SessionLink)))}</dd>
              <dt>Max concurrency (agent)</dt><dd>{r.MaxConcurrency}</dd>
              <dt>Response timeout</dt><dd>{(r.ResponseTimeoutMs is { } t ? t.ToString(CultureInfo.InvariantCulture) + " ms" : "100 s (default)")}</dd>
              <dt>Max request body</dt><dd>{(r.MaxRequestBodySize is { } b ? Html.Bytes(b) : "the edge's limit")}</dd>
              <dt>Policy</dt><dd>{(layers.Length == 0 ? "none (public)" : E(string.Join("; ", layers)))}</dd>
              <dt>Token quota</dt><dd>{E(quota)}{(account.Exceeded is { } why ? $" <span class=\"badge bad\">{E(why)}</span>" : "")}</dd>
            </dl>
            """);
        var inspecting = console.Inspector.IsEnabled(service.Name);
        html.Append(CultureInfo.InvariantCulture, $"""
            <h2>Inspector</h2>
            <form method="post" action="/console/services/{Uri.EscapeDataString(service.Name)}/inspect" class="inline">
              {Html.CsrfField(context)}
              <input type="hidden" name="on" value="{(inspecting ? "false" : "true")}">
              <button type="submit" id="inspect-toggle" class="{(inspecting ? "danger" : "secondary")}">{(inspecting ? "Stop inspecting" : "Start inspecting")}</button>
            </form>
            <span class="muted">{(inspecting ? "Capturing" : "Off.")} Keeps headers (credentials masked) and the first {Html.Bytes(console.Inspector.MaxBody)} of each body of the latest exchanges, in memory only.</span>
            """);
        html.Append(CultureInfo.InvariantCulture, $"""
            <h2>Live</h2>
            <div class="charts">
              <div class="card"><h3>Requests and errors per second</h3>{Html.Chart(key, "0,1", "requests/s,errors/s")}</div>
              <div class="card"><h3>Latency</h3>{Html.Chart(key, "2,3", "p50,p99", "ms")}</div>
              <div class="card"><h3>Bytes per second</h3>{Html.Chart(key, "4,5", "in,out", "bytes")}</div>
              <div class="card"><h3>Open WebSockets and TCP connections</h3>{Html.Chart(key, "6,7", "websockets,tcp")}</div>
            </div>
            """);
        if (stats.Captures is { } captures)
        {
            html.Append("<h2>Captured</h2>");
            var list = captures.Snapshot().Reverse().ToArray();
            if (list.Length == 0)
            {
                html.Append("<p class=\"muted\">Nothing captured yet.</p>");
            }
            else
            {
                html.Append("<table class=\"captures\"><thead><tr><th>Time (UTC)</th><th>Kind</th><th>Method</th><th>Path</th><th>Status</th><th class=\"num\">ms</th><th></th></tr></thead><tbody>");
                foreach (var c in list)
                {
                    html.Append(CultureInfo.InvariantCulture, $"""
                        <tr><td class="mono">{Time(c.Time)}</td><td>{E(c.Kind)}</td><td>{E(c.Method)}</td><td class="mono">{E(c.PathAndQuery)}</td>
                        <td>{StatusBadge(c.Status, c.Error)}</td><td class="num">{(c.DurationMs is { } ms ? Ms(ms) : "open")}</td>
                        <td><a href="/console/inspector/{c.Id}">inspect</a></td></tr>
                        """);
                }
                html.Append("</tbody></table>");
            }
        }
        html.Append("<h2>Last errors</h2>");
        if (console.Log is { } log)
        {
            var search = new RequestSearch { Service = service.Name, Status = "error", Limit = 20 };
            var errors = await console.Database.RunAsync(() => search.Run(log.DatabasePath)).ConfigureAwait(false);
            html.Append(RequestTable(errors, id => ConsoleEndpoints.FindCapture(console, id) is not null));
            html.Append(CultureInfo.InvariantCulture, $"<p><a href=\"/console/requests?service={Uri.EscapeDataString(service.Name)}\">All requests of {E(service.Name)}</a></p>");
        }
        else
        {
            html.Append("<p class=\"muted\">The request log is off (request_log.enabled: false).</p>");
        }
        await WriteAsync(context, service.Name, html.ToString()).ConfigureAwait(false);
    }

    private static IEnumerable<string> Rules(Policy.PolicyLayer l)
    {
        if (l.Ip is not null)
        {
            yield return "ip";
        }
        if (l.Basic is not null)
        {
            yield return "basic auth";
        }
        if (l.ApiKeys is not null)
        {
            yield return "api keys";
        }
        if (l.Jwt is not null)
        {
            yield return "jwt";
        }
        if (l.ForwardAuth is not null)
        {
            yield return "forward auth";
        }
        if (l.PerIp is not null || l.PerService is not null)
        {
            yield return "rate limit";
        }
        if (l.Cors is not null)
        {
            yield return "cors";
        }
        if (l.HttpsRedirect)
        {
            yield return "https redirect";
        }
        if (l.Maintenance is not null)
        {
            yield return "maintenance";
        }
        if (l.Timeout is not null)
        {
            yield return "timeout";
        }
        if (l.MaxRequestBodySize is not null)
        {
            yield return "max body";
        }
        if (l.MaxConnectionsPerIp is not null || l.ConnectionRate is not null)
        {
            yield return "tcp limits";
        }
    }
}
