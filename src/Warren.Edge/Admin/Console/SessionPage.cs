using System.Globalization;
using System.Text;
using Microsoft.AspNetCore.Http;
using Warren.Admin;
using Warren.Edge.Agents;
using static Warren.Edge.Admin.Console.EdgePages;

namespace Warren.Edge.Admin.Console;

/// <summary>/console/sessions/ID: one agent session, its services and its link's charts (docs/console.md, "Session").</summary>
internal static class SessionPage
{
    public static Task RenderAsync(HttpContext context, AgentSession session)
    {
        var key = "session:" + session.Id.ToString(CultureInfo.InvariantCulture);
        var html = new StringBuilder();
        html.Append(CultureInfo.InvariantCulture, $"<div data-live=\"/console/events?scope={Uri.EscapeDataString(key)}\"></div>");
        html.Append(CultureInfo.InvariantCulture, $"<h1>Session {E(SessionName(session))} <span id=\"live-status\">connecting…</span></h1>");
        html.Append(CultureInfo.InvariantCulture, $"""
            <dl class="details">
              <dt>Agent</dt><dd>{E(session.AgentName)}</dd>
              <dt>Token</dt><dd>{E(session.TokenName)}</dd>
              <dt>Remote</dt><dd class="mono">{E(session.Remote?.ToString())}</dd>
              <dt>Link</dt><dd>{E(session.Link)}</dd>
              <dt>Connected (UTC)</dt><dd class="mono">{Time(session.ConnectedAt)}</dd>
              <dt>State</dt><dd>{(session.IsUsable ? "<span class=\"badge ok\">serving</span>" : "<span class=\"badge warn\">draining</span>")}</dd>
              <dt>RTT</dt><dd>{Html.Live(key, 1, "ms")}</dd>
              <dt>Streams open</dt><dd>{Html.Live(key, 0)}</dd>
              <dt>Services</dt><dd>{(session.Services.Count == 0 ? "none" : string.Join(", ", session.Services.Select(s => ServiceLink(s.Name))))}</dd>
            </dl>
            <h2>Live</h2>
            <div class="charts">
              <div class="card"><h3>Streams open</h3>{Html.Chart(key, "0", "streams")}</div>
              <div class="card"><h3>Round-trip time</h3>{Html.Chart(key, "1", "rtt", "ms")}</div>
              <div class="card"><h3>Link bytes per second</h3>{Html.Chart(key, "2,3", "to agent,from agent", "bytes")}</div>
            </div>
            """);
        return WriteAsync(context, SessionName(session), html.ToString());
    }
}
