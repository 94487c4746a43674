using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Warren.Admin;
using Warren.Configuration;
using Warren.Edge.Acme;
using Warren.Edge.Admin.Console;
using Warren.Edge.Dashboard;
using Warren.Edge.Telemetry;

namespace Warren.Edge.Admin;

/// <summary>The admin listener (listen.admin): its own Kestrel host, so it stays reachable whatever the public side does.</summary>
internal static class AdminHost
{
    /// <summary>Builds the admin app; <paramref name="listener"/> gives its bound port once started.</summary>
    public static WebApplication Build(EdgeConfig config, ILoggerFactory loggerFactory, EdgeState state, EdgeMetrics metrics, CertificateManager? acme,
        EdgeConsole console, out Func<ListenOptions> listener, Warren.Edge.Tokens.TokenValidator tokens, Func<IReadOnlyList<EdgeTokenConfig>> configuredTokens,
        Func<Task<ReloadResult>> reload, Shield.AbuseShield shield, Hosting.ListenSockets sockets, Func<TimeSpan> drainTimeout, Func<Cluster.ClusterStatus?>? cluster = null)
    {
        var endPoint = ListenEndPoint.Parse(config.Listen.Admin);
        if (!IPAddress.IsLoopback(endPoint.Address) && config.AdminToken is null)
        {
            // Status and metrics leave loopback only behind a token (docs/security.md); the config validator says the same.
            throw new InvalidOperationException(
                $"listen.admin {config.Listen.Admin} is not a loopback address and admin_token is not set; the admin listener serves status and metrics, so set admin_token (WARREN_ADMIN_TOKEN) or bind it to 127.0.0.1");
        }
        ListenOptions? bound = null;
        var builder = WebHosting.CreateBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddSingleton(loggerFactory);
        // One login for the console and every API on this listener (docs/console.md, "Logging in").
        builder.Services.AddWarrenAdmin(new AdminOptions { Token = config.AdminToken, Role = "edge" });
        AdminOpenApi.Add(builder.Services);
        // Bound now, or taken over from the previous edge in an upgrade (Hosting/ListenSockets.cs).
        var socket = sockets.Bind("admin", endPoint);
        builder.WebHost.UseSockets(o => o.CreateBoundListenSocket = sockets.ForKestrel);
        builder.WebHost.ConfigureKestrel(k => k.Listen((IPEndPoint)socket.LocalEndPoint!, l => bound = l));
        var admin = builder.Build();
        admin.UseWarrenAdmin();
        AdminEndpoints.Map(admin, state, metrics, acme, cluster);
        AdminApi.Map(admin, state, metrics, tokens, configuredTokens, reload);
        new ServiceControlApi(state, metrics, TimeProvider.System, loggerFactory.CreateLogger("Warren.Edge.Admin"), drainTimeout).Map(admin);
        BanEndpoints.Map(admin, shield);
        ConsoleEndpoints.Map(admin, console, metrics);
        AdminOpenApi.Map(admin);
        listener = () => bound ?? throw new InvalidOperationException("the admin listener is not configured yet");
        return admin;
    }
}
