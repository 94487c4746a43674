using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Warren.Admin;
using Warren.Configuration;

namespace Warren.Agent.Telemetry;

/// <summary>
/// The agent's local admin listener (agent.yaml <c>admin</c>): /healthz (process up), /readyz (a session up and every
/// service registered), /metrics (Prometheus text) and /api/status (JSON, read by <c>warren status</c>).
/// </summary>
internal sealed class AgentAdminServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ListenOptions _listener;
    private readonly AgentConsole _console;

    private AgentAdminServer(WebApplication app, ListenOptions listener, AgentConsole console) => (_app, _listener, _console) = (app, listener, console);

    public int Port => _listener.IPEndPoint!.Port;

    public static async Task<AgentAdminServer> StartAsync(string address, string? token, WarrenAgent agent, AgentMetrics metrics, ILoggerFactory loggerFactory)
    {
        var endPoint = ListenEndPoint.Parse(address);
        if (!IPAddress.IsLoopback(endPoint.Address) && token is null)
        {
            // The same rule as the edge's admin listener (docs/security.md); the config validator says it first.
            throw new InvalidOperationException($"admin {address} is not a loopback address and admin_token is not set; set admin_token (WARREN_ADMIN_TOKEN) or bind it to 127.0.0.1");
        }
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ContentRootPath = AppContext.BaseDirectory });
        builder.Configuration.Sources.Clear();
        builder.Logging.ClearProviders();
        builder.Services.AddSingleton(loggerFactory);
        // The edge's login, antiforgery and framing rules (Warren.Admin), with the agent's own cookies.
        builder.Services.AddWarrenAdmin(new AdminOptions { Token = token, Role = "agent" });
        ListenOptions? listener = null;
        builder.WebHost.ConfigureKestrel(k => k.Listen(endPoint, l => listener = l));
        var app = builder.Build();
        app.UseWarrenAdmin();
        var console = new AgentConsole(agent, metrics);
        console.Map(app);
        app.MapGet("/healthz", () => "ok");
        app.MapGet("/readyz", () => agent.IsReady ? Results.Text("ready") : Results.Text("not ready", statusCode: StatusCodes.Status503ServiceUnavailable));
        app.MapGet("/metrics", async (HttpContext context) =>
        {
            context.Response.ContentType = "text/plain; version=0.0.4; charset=utf-8";
            await metrics.Registry.CollectAndExportAsTextAsync(context.Response.Body, context.RequestAborted).ConfigureAwait(false);
        });
        app.MapGet("/api/status", () => Results.Text(JsonSerializer.Serialize(new AgentStatusView(
            Role: "agent",
            Agent: agent.Config.Name,
            Edge: agent.Config.Edge,
            Ready: agent.IsReady,
            Reconnects: agent.Reconnects,
            Sessions: agent.SessionsByIndex.Where(p => p.Session is not null).Select(p => new AgentSessionView(
                p.Index, agent.Config.Name, agent.Config.Edge, p.Session!.SmoothedRtt.TotalMilliseconds, p.Session.StreamCount,
                agent.Config.Services.Select(s => s.Name))),
            Services: agent.Config.Services.Select(s => new AgentServiceView(
                s.Name, s.IsTcp ? "tcp" : "http", s.Hostnames, s.Port, s.Target.ToString(), agent.InFlight.GetValueOrDefault(s.Name), agent.ConnectedSessions))),
            AgentStatusJson.Default.AgentStatusView), "application/json"));
        // Hot reload (docs/operations.md, "Reload"): what `warren reload --admin` calls; 422 when refused.
        app.MapPost("/api/reload", async () =>
        {
            var result = await agent.ReloadAsync().ConfigureAwait(false);
            return Results.Json(result, AgentStatusJson.Default.ReloadResult, statusCode: result.Ok ? StatusCodes.Status200OK : StatusCodes.Status422UnprocessableEntity);
        });
        await app.StartAsync().ConfigureAwait(false);
        return new AgentAdminServer(app, listener!, console);
    }

    public async ValueTask DisposeAsync()
    {
        _console.Dispose();
        await _app.StopAsync().ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
    }
}
