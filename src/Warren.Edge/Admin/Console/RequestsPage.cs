using System.Globalization;
using System.Text;
using Microsoft.AspNetCore.Http;
using Warren.Edge.Dashboard;
using Warren.Edge.RequestLog;
using static Warren.Edge.Admin.Console.EdgePages;

namespace Warren.Edge.Admin.Console;

/// <summary>/console/requests: the request log, searched by service, status, path, client and time (docs/console.md, "Requests").</summary>
internal static class RequestsPage
{
    public static async Task RenderAsync(HttpContext context, EdgeConsole console)
    {
        var query = context.Request.Query;
        var search = RequestSearch.Parse(k => query[k].ToString(), out var error);
        var html = new StringBuilder("<h1>Requests</h1>");
        string Value(string k) => E(query[k].ToString());
        html.Append(CultureInfo.InvariantCulture, $"""
            <form class="search" method="get" action="/console/requests">
              <label>Service<input name="service" value="{Value("service")}" list="services"></label>
              <label>Status<input name="status" value="{Value("status")}" placeholder="404, 5xx, error" size="8"></label>
              <label>Path contains<input name="path" value="{Value("path")}"></label>
              <label>Client<input name="client" value="{Value("client")}" placeholder="203.0.113.7" size="14"></label>
              <label>From (UTC)<input name="from" type="datetime-local" step="1" value="{Value("from")}"></label>
              <label>To (UTC)<input name="to" type="datetime-local" step="1" value="{Value("to")}"></label>
              <button type="submit">Search</button>
              <a href="/console/requests">Clear</a>
            </form>
            <datalist id="services">{string.Concat(console.State.Routes.Services.Select(s => $"<option value=\"{E(s.Name)}\">"))}</datalist>
            """);
        if (console.Log is not { } log)
        {
            html.Append("<p class=\"muted\">The request log is off (request_log.enabled: false).</p>");
            await WriteAsync(context, "Requests", html.ToString()).ConfigureAwait(false);
            return;
        }
        if (error is not null)
        {
            html.Append(CultureInfo.InvariantCulture, $"<p class=\"error\" role=\"alert\">{E(error)}</p>");
            await WriteAsync(context, "Requests", html.ToString(), StatusCodes.Status400BadRequest).ConfigureAwait(false);
            return;
        }
        var rows = await console.Database.RunAsync(() => search.Run(log.DatabasePath)).ConfigureAwait(false);
        html.Append(CultureInfo.InvariantCulture, $"<p class=\"muted\">{rows.Count} shown, newest first. Written {N(log.Written)} · dropped under pressure {N(log.Dropped)} · waiting {N(log.QueueDepth)}.</p>");
        html.Append(RequestTable(rows, id => ConsoleEndpoints.FindCapture(console, id) is not null));
        if (rows.Count == search.Limit)
        {
            var next = QueryString.Create(query.Where(p => p.Key != "before").Select(p => KeyValuePair.Create(p.Key, (string?)p.Value.ToString()))
                .Append(KeyValuePair.Create("before", (string?)rows[^1].Id.ToString(CultureInfo.InvariantCulture))));
            html.Append(CultureInfo.InvariantCulture, $"<p><a href=\"/console/requests{E(next.Value)}\">Older</a></p>");
        }
        await WriteAsync(context, "Requests", html.ToString()).ConfigureAwait(false);
    }
}
