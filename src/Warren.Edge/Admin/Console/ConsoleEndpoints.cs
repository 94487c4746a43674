using System.Globalization;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Warren.Admin;
using Warren.Edge.Dashboard;
using Warren.Edge.Inspector;
using Warren.Edge.RequestLog;
using Warren.Edge.Telemetry;

namespace Warren.Edge.Admin.Console;

/// <summary>
/// The edge's console on the admin listener (docs/console.md). Every URL here is behind Warren.Admin's gate: the
/// login, and an antiforgery token on every POST a cookie authenticates.
/// </summary>
internal static class ConsoleEndpoints
{
    public static void Map(WebApplication app, EdgeConsole console, EdgeMetrics metrics)
    {
        _ = metrics;
        // A full database queue (ConsoleDatabase) is a 503 for any console page or API, not a 500.
        app.Use(async (context, next) =>
        {
            try
            {
                await next(context).ConfigureAwait(false);
            }
            catch (ConsoleBusyException ex) when (!context.Response.HasStarted)
            {
                context.Response.Clear();
                context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
                context.Response.Headers.RetryAfter = "1";
                await context.Response.WriteAsync(ex.Message, context.RequestAborted).ConfigureAwait(false);
            }
        });
        app.MapGet("/", () => Results.Redirect("/console"));
        app.MapGet("/console", (HttpContext context) => OverviewPage.RenderAsync(context, console));
        app.MapGet("/console/events", (HttpContext context) => console.Feed.StreamAsync(context, Charts(console, context.Request.Query["scope"].ToString())));
        app.MapGet("/console/services/{name}", (HttpContext context, string name) =>
            Service(console, name) is { } service ? ServicePage.RenderAsync(context, console, service) : EdgePages.NotFoundAsync(context, $"No service named '{name}' is registered now."));
        app.MapPost("/console/services/{name}/inspect", async (HttpContext context, string name) =>
        {
            var form = await context.Request.ReadFormAsync(context.RequestAborted).ConfigureAwait(false);
            var service = Service(console, name);
            if (service is null && !console.Inspector.IsEnabled(name))
            {
                await EdgePages.NotFoundAsync(context, $"No service named '{name}' is registered now.").ConfigureAwait(false);
                return;
            }
            console.Inspector.Set(service is null ? null : console.For(service), name, form["on"] == "true");
            context.Response.Redirect("/console/services/" + Uri.EscapeDataString(name));
        });
        app.MapGet("/console/sessions/{id:long}", (HttpContext context, long id) =>
            console.State.Sessions.FirstOrDefault(s => s.Id == id) is { } session ? SessionPage.RenderAsync(context, session) : EdgePages.NotFoundAsync(context, $"No session {id} is connected now."));
        app.MapGet("/console/requests", (HttpContext context) => RequestsPage.RenderAsync(context, console));
        app.MapGet("/console/api/requests", async (HttpContext context) =>
        {
            var query = context.Request.Query;
            var search = RequestSearch.Parse(k => query[k].ToString(), out var error);
            if (error is not null)
            {
                return AdminError.Result(StatusCodes.Status400BadRequest, error);
            }
            return console.Log is { } log
                ? Results.Json(await console.Database.RunAsync(() => search.Run(log.DatabasePath)).ConfigureAwait(false), ConsoleJson.Default.IReadOnlyListLoggedRequest)
                : AdminError.Result(StatusCodes.Status404NotFound, "the request log is off (request_log.enabled: false)");
        });
        app.MapGet("/console/inspector/{id:long}", (HttpContext context, long id) =>
            FindCapture(console, id) is { } capture ? InspectorPage.RenderAsync(context, capture, console.Inspector.MaxBody)
                : EdgePages.NotFoundAsync(context, $"The inspector holds no exchange {id}: its service is not inspected, or it was replaced by newer ones."));
        app.MapPost("/console/inspector/{id:long}/replay", async (HttpContext context, long id) =>
        {
            if (FindCapture(console, id) is not { } original || Service(console, original.Service) is not { } service)
            {
                await EdgePages.NotFoundAsync(context, $"Exchange {id} is gone, or its service is not registered now.").ConfigureAwait(false);
                return;
            }
            var form = await context.Request.ReadFormAsync(context.RequestAborted).ConfigureAwait(false);
            var (method, path, headers, body) = (form["method"].ToString().Trim().ToUpperInvariant(), form["path"].ToString().Trim(), form["headers"].ToString(), form["body"].ToString());
            if (ReplaySender.Problem(method, path, headers, body) is { } problem)
            {
                await EdgePages.WriteAsync(context, "Replay", $"<h1>Replay refused</h1><p class=\"error\" role=\"alert\">{EdgePages.E(problem)}</p><p><a href=\"/console/inspector/{id}\">Back</a></p>",
                    StatusCodes.Status400BadRequest).ConfigureAwait(false);
                return;
            }
            var replay = await ReplaySender.SendAsync(console, service, original, method, path, headers, body, context.RequestAborted).ConfigureAwait(false);
            if (console.For(service).Captures is null)
            {
                await InspectorPage.RenderAsync(context, replay, console.Inspector.MaxBody).ConfigureAwait(false);
                return;
            }
            context.Response.Redirect("/console/inspector/" + replay.Id.ToString(CultureInfo.InvariantCulture));
        });
        app.MapGet("/console/traffic", (HttpContext context) => TrafficPage.RenderAsync(context, console));
        app.MapGet("/console/tokens", (HttpContext context) => TokensPage.RenderAsync(context, console));
        app.MapPost("/console/tokens", (HttpContext context) => TokensPage.CreateAsync(context, console));
        app.MapPost("/console/tokens/{name}/revoke", async (HttpContext context, string name) =>
        {
            await TokensPage.RevokeAsync(console, name).ConfigureAwait(false);
            return Results.Redirect("/console/tokens");
        });
    }

    private static Routing.ServiceEntry? Service(EdgeConsole console, string name) =>
        console.State.Routes.Services.FirstOrDefault(s => s.Name == name);

    /// <summary>The capture with this id in any service's inspector ring, or null.</summary>
    public static Capture? FindCapture(EdgeConsole console, long id)
    {
        foreach (var stats in console.Services)
        {
            if (stats.Captures?.Find(id) is { } capture)
            {
                return capture;
            }
        }
        return null;
    }

    /// <summary>The charts one page shows: the overview (the edge, every service and session), one service, or one session.</summary>
    private static Func<IEnumerable<(string, SeriesRing)>> Charts(EdgeConsole console, string scope) => () =>
    {
        var charts = new List<(string, SeriesRing)>();
        if (scope.StartsWith("svc:", StringComparison.Ordinal))
        {
            if (Service(console, scope[4..]) is { } service)
            {
                charts.Add((scope, console.For(service).Ring));
            }
            return charts;
        }
        foreach (var session in console.State.Sessions)
        {
            var key = "session:" + session.Id.ToString(CultureInfo.InvariantCulture);
            if (scope == "overview" || scope == key)
            {
                charts.Add((key, console.For(session).Ring));
            }
        }
        if (scope == "overview")
        {
            charts.Add(("edge", console.EdgeRing));
            foreach (var service in console.State.Routes.Services)
            {
                charts.Add(("svc:" + service.Name, console.For(service).Ring));
            }
        }
        return charts;
    };
}
