using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Prometheus;
using Warren.Configuration;
using Warren.Edge.Acme;
using Warren.Edge.Telemetry;

namespace Warren.Edge.Admin;

/// <summary>The edge's admin listener: /healthz, /readyz, /metrics (Prometheus text) and /api/status (JSON for `warren status`).</summary>
internal static class AdminEndpoints
{
    /// <summary>Maps the endpoints; who may call them is decided before, for every path, by Warren.Admin's AdminGate.</summary>
    public static void Map(WebApplication admin, EdgeState state, EdgeMetrics metrics, CertificateManager? acme = null, Func<Cluster.ClusterStatus?>? cluster = null)
    {
        admin.MapGet("/healthz", () => "ok").WithTags("probes").WithSummary("Liveness: 200 \"ok\" while the process runs (no token)")
            .Produces<string>(StatusCodes.Status200OK, "text/plain");
        admin.MapGet("/readyz", () => metrics.IsReady ? Results.Text("ready") : Results.Text("not ready", statusCode: StatusCodes.Status503ServiceUnavailable))
            .WithTags("probes").WithSummary("Readiness: 200 \"ready\", 503 from the first moment of a drain (no token)")
            .Produces<string>(StatusCodes.Status200OK, "text/plain").Produces<string>(StatusCodes.Status503ServiceUnavailable, "text/plain");
        // A route handler (it returns a result), not a bare RequestDelegate: only handlers reach the OpenAPI document.
        admin.MapGet("/metrics", async (HttpContext context) =>
        {
            await ExportAsync(metrics.Registry, context).ConfigureAwait(false);
            return Results.Empty;
        }).WithTags("metrics").WithSummary("Prometheus text exposition (docs/observability.md)").Produces<string>(StatusCodes.Status200OK, "text/plain");
        admin.MapGet("/api/status", () =>
        {
            var body = JsonSerializer.Serialize(new EdgeStatusView(
                Role: "edge",
                Ready: metrics.IsReady,
                AuthFailures: state.AuthFailures,
                Sessions: state.Sessions.OrderBy(s => s.Id).Select(AdminApi.Describe),
                Services: state.Routes.Services.OrderBy(s => s.Name, StringComparer.Ordinal).Select(s =>
                {
                    var m = metrics.For(s);
                    var (requestRate, errorRate) = m.Rates();
                    return new ServiceStatusView(s.Name, s.Owner, s.Registration.Kind, s.Registration.Hostnames, s.Registration.Port, s.Sessions.Length,
                        m.RequestCount, m.ErrorCount, Math.Round(requestRate, 3), Math.Round(errorRate, 3));
                }),
                // Automatic certificates (docs/https.md "Debugging a failed order"); absent without acme:.
                Certificates: acme?.Snapshot(),
                // The edges of the cluster (docs/cluster.md, "Status"); absent (null) without cluster:.
                Cluster: cluster?.Invoke()), AdminJson.Default.EdgeStatusView);
            return Results.Text(body, "application/json");
        }).WithTags("status").WithSummary("Sessions, services and certificates, as `warren status` shows them").Produces(StatusCodes.Status200OK, contentType: "application/json");
        admin.MapGet("/api/cluster", () => cluster?.Invoke() is { } status
                ? Results.Json(status, AdminJson.Default.ClusterStatus)
                : AdminError.Result(StatusCodes.Status404NotFound, "this edge is not part of a cluster (no cluster: in edge.yaml)"))
            .WithTags("cluster").WithSummary("The edges of the cluster, their sessions, services and heartbeats, and whether this edge reaches Redis (docs/cluster.md)")
            .Produces<Cluster.ClusterStatus>(StatusCodes.Status200OK).Produces<AdminError>(StatusCodes.Status404NotFound);
    }


    /// <summary>Writes the registry in Prometheus text format (what prometheus-net.AspNetCore's middleware does, without the package).</summary>
    public static async Task ExportAsync(CollectorRegistry registry, HttpContext context)
    {
        context.Response.ContentType = "text/plain; version=0.0.4; charset=utf-8";
        await registry.CollectAndExportAsTextAsync(context.Response.Body, context.RequestAborted).ConfigureAwait(false);
    }
}
