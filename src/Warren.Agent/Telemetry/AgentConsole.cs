using System.Globalization;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Warren.Admin;

namespace Warren.Agent.Telemetry;

/// <summary>
/// The agent's small console (docs/console.md, "The agent's console"): its sessions to the edge and its services,
/// with live charts of streams served, streams in flight and failed dials, sampled once a second from the metrics
/// the agent keeps anyway (nothing is added to the stream path). Behind the same login as the edge's.
/// </summary>
internal sealed class AgentConsole : IDisposable
{
    private static readonly ConsoleFrame Frame = new("agent", [("/console", "Overview")]);

    private readonly WarrenAgent _agent;
    private readonly AgentMetrics _metrics;
    private readonly Dictionary<string, (SeriesRing Ring, double Served, double Failed)> _services;
    private readonly Dictionary<int, SeriesRing> _sessions;
    private readonly LiveFeed _feed;

    public AgentConsole(WarrenAgent agent, AgentMetrics metrics)
    {
        (_agent, _metrics) = (agent, metrics);
        _services = agent.Config.Services.ToDictionary(s => s.Name, _ => (new SeriesRing(3), -1.0, -1.0), StringComparer.Ordinal);
        _sessions = Enumerable.Range(0, agent.Config.Connections).ToDictionary(i => i, _ => new SeriesRing(2));
        _feed = new LiveFeed(TimeProvider.System, Sample);
    }

    public void Map(WebApplication app)
    {
        app.MapGet("/", () => Results.Redirect("/console"));
        app.MapGet("/console", Overview);
        app.MapGet("/console/events", (HttpContext context) => _feed.StreamAsync(context, Charts));
    }

    /// <summary>Once a second: each service's streams served and failed dials since the last sample, and its streams in flight; each session's streams and RTT.</summary>
    private void Sample(long now)
    {
        lock (_services)
        {
            var inFlight = _agent.InFlight;
            foreach (var name in _services.Keys.ToArray())
            {
                var (ring, lastServed, lastFailed) = _services[name];
                var children = _metrics.For(name);
                var served = children?.Served.Value ?? 0;
                var failed = (children?.DialFailed.Value ?? 0) + (children?.DialTimeout.Value ?? 0);
                Span<double> point = [lastServed < 0 ? 0 : served - lastServed, inFlight.GetValueOrDefault(name), lastFailed < 0 ? 0 : failed - lastFailed];
                ring.Add(now, point);
                _services[name] = (ring, served, failed);
            }
        }
        foreach (var (index, session) in _agent.SessionsByIndex)
        {
            Span<double> point = [session?.StreamCount ?? 0, session?.SmoothedRtt.TotalMilliseconds ?? 0];
            _sessions[index].Add(now, point);
        }
    }

    private IEnumerable<(string, SeriesRing)> Charts()
    {
        lock (_services)
        {
            return [.. _services.Select(p => ("svc:" + p.Key, p.Value.Ring)), .. _sessions.Select(p => ("session:" + p.Key.ToString(CultureInfo.InvariantCulture), p.Value))];
        }
    }

    private Task Overview(HttpContext context)
    {
        var config = _agent.Config;
        var html = new StringBuilder("<div data-live=\"/console/events\"></div>");
        html.Append(CultureInfo.InvariantCulture, $"<h1>Agent {Html.Encode(config.Name)} <span id=\"live-status\">connecting…</span></h1>");
        html.Append(CultureInfo.InvariantCulture, $"""
            <dl class="details">
              <dt>Edge</dt><dd class="mono">{Html.Encode(config.Edge)}</dd>
              <dt>Ready</dt><dd>{(_agent.IsReady ? "<span class=\"badge ok\">yes</span>" : "<span class=\"badge bad\">no</span>")}</dd>
              <dt>Sessions</dt><dd>{_agent.ConnectedSessions} of {config.Connections}</dd>
              <dt>Reconnects</dt><dd>{_agent.Reconnects}</dd>
            </dl>
            <h2>Sessions</h2>
            <table class="sessions"><thead><tr><th>Session</th><th>State</th><th class="num">RTT</th><th class="num">Streams</th></tr></thead><tbody>
            """);
        foreach (var (index, session) in _agent.SessionsByIndex)
        {
            var key = "session:" + index.ToString(CultureInfo.InvariantCulture);
            html.Append(CultureInfo.InvariantCulture, $"""
                <tr><td>{index}</td><td>{(session is null ? "<span class=\"badge bad\">connecting</span>" : "<span class=\"badge ok\">up</span>")}</td>
                <td class="num">{Html.Live(key, 1, "ms")}</td><td class="num">{Html.Live(key, 0)}</td></tr>
                """);
        }
        html.Append("</tbody></table><h2>Services</h2><div class=\"cards services\">");
        foreach (var service in config.Services)
        {
            var key = "svc:" + service.Name;
            var where = service.Port is { } port ? "TCP :" + port.ToString(CultureInfo.InvariantCulture) : string.Join(", ", service.Hostnames);
            html.Append(CultureInfo.InvariantCulture, $"""
                <div class="card service" data-service="{Html.Encode(service.Name)}">
                  <h3>{Html.Encode(service.Name)}</h3>
                  <div class="muted">{Html.Encode(where)} → <span class="mono">{Html.Encode(service.Target.ToString())}</span></div>
                  <div class="stats">
                    <div><span>streams/s</span><span>{Html.Live(key, 0)}</span></div>
                    <div><span>in flight</span><span>{Html.Live(key, 1)}</span></div>
                    <div><span>failed dials/s</span><span>{Html.Live(key, 2)}</span></div>
                  </div>
                  {Html.Chart(key, "0,1,2", "streams/s,in flight,failed dials/s", "", 110)}
                </div>
                """);
        }
        html.Append("</div>");
        return Html.WriteAsync(context, StatusCodes.Status200OK, Html.Page(context, Frame, "Agent " + config.Name, html.ToString()));
    }

    public void Dispose() => _feed.Dispose();
}
