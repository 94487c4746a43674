using System.Text;
using Microsoft.AspNetCore.Http;
using Warren.Admin;
using Warren.Edge.Dashboard;
using static Warren.Edge.Admin.Console.EdgePages;

namespace Warren.Edge.Admin.Console;

/// <summary>/console: the edge's live charts, its agent sessions and its services, each with its own chart (docs/console.md, "Overview").</summary>
internal static class OverviewPage
{
    public static Task RenderAsync(HttpContext context, EdgeConsole console)
    {
        var state = console.State;
        var html = new StringBuilder();
        html.Append("<div data-live=\"/console/events?scope=overview\"></div>");
        html.Append("<h1>Overview <span id=\"live-status\">connecting…</span></h1>");
        html.Append($"""
            <div class="stats">
              <div><span>Requests/s</span><span>{Html.Live("edge", 0)}</span></div>
              <div><span>Errors/s</span><span>{Html.Live("edge", 1)}</span></div>
              <div><span>p99 (slowest service)</span><span>{Html.Live("edge", 3, "ms")}</span></div>
              <div><span>In</span><span>{Html.Live("edge", 4, "bytes")}</span></div>
              <div><span>Out</span><span>{Html.Live("edge", 5, "bytes")}</span></div>
              <div><span>WebSockets</span><span>{Html.Live("edge", 6)}</span></div>
              <div><span>TCP connections</span><span>{Html.Live("edge", 7)}</span></div>
              <div><span>Sessions</span><span>{state.Sessions.Count}</span></div>
              <div><span>Services</span><span>{state.Routes.Services.Count}</span></div>
            </div>
            <div class="charts">
              <div class="card"><h3>Requests and errors per second</h3>{Html.Chart("edge", "0,1", "requests/s,errors/s")}</div>
              <div class="card"><h3>Latency</h3>{Html.Chart("edge", "2,3", "p50,p99", "ms")}</div>
              <div class="card"><h3>Bytes per second</h3>{Html.Chart("edge", "4,5", "in,out", "bytes")}</div>
              <div class="card"><h3>Open WebSockets and TCP connections</h3>{Html.Chart("edge", "6,7", "websockets,tcp")}</div>
            </div>
            """);
        html.Append("<h2>Sessions</h2>");
        var sessions = state.Sessions.OrderBy(s => s.Id).ToArray();
        if (sessions.Length == 0)
        {
            html.Append("<p class=\"muted\">No agent is connected.</p>");
        }
        else
        {
            html.Append("<table class=\"sessions\"><thead><tr><th>Session</th><th>Token</th><th>Remote</th><th>Connected (UTC)</th><th class=\"num\">RTT</th><th class=\"num\">Streams</th><th>Services</th></tr></thead><tbody>");
            foreach (var s in sessions)
            {
                var key = "session:" + s.Id.ToString(System.Globalization.CultureInfo.InvariantCulture);
                html.Append($"""
                    <tr><td>{SessionLink(s)}</td><td>{E(s.TokenName)}</td><td class="mono">{E(s.Remote?.ToString())}</td><td class="mono">{Time(s.ConnectedAt)}</td>
                    <td class="num">{Html.Live(key, 1, "ms")}</td><td class="num">{Html.Live(key, 0)}</td>
                    <td>{string.Join(", ", s.Services.Select(x => ServiceLink(x.Name)))}</td></tr>
                    """);
            }
            html.Append("</tbody></table>");
        }
        html.Append("<h2>Services</h2>");
        var services = state.Routes.Services.OrderBy(s => s.Name, StringComparer.Ordinal).ToArray();
        if (services.Length == 0)
        {
            html.Append("<p class=\"muted\">No service is registered.</p>");
        }
        html.Append("<div class=\"cards services\">");
        foreach (var s in services)
        {
            var key = "svc:" + s.Name;
            var where = s.Registration.Port is { } port ? "TCP :" + port.ToString(System.Globalization.CultureInfo.InvariantCulture) : string.Join(", ", s.Registration.Hostnames) + (s.Registration.PathPrefix ?? "");
            var inspecting = console.Inspector.IsEnabled(s.Name) ? " <span class=\"badge warn\">inspecting</span>" : "";
            html.Append($"""
                <div class="card service" data-service="{E(s.Name)}">
                  <h3>{ServiceLink(s.Name)}{inspecting}</h3>
                  <div class="muted">{E(where)} · token {E(s.Owner)} · {s.Sessions.Length} session(s)</div>
                  <div class="stats">
                    <div><span>req/s</span><span class="rps">{Html.Live(key, 0)}</span></div>
                    <div><span>err/s</span><span>{Html.Live(key, 1)}</span></div>
                    <div><span>p50</span><span>{Html.Live(key, 2, "ms")}</span></div>
                    <div><span>p99</span><span>{Html.Live(key, 3, "ms")}</span></div>
                    <div><span>in</span><span>{Html.Live(key, 4, "bytes")}</span></div>
                    <div><span>out</span><span>{Html.Live(key, 5, "bytes")}</span></div>
                  </div>
                  {Html.Chart(key, "0,1", "requests/s,errors/s", "", 90, compact: true)}
                </div>
                """);
        }
        html.Append("</div>");
        return WriteAsync(context, "Overview", html.ToString());
    }
}
