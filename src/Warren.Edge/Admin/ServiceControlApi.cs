using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Warren.Configuration;
using Warren.Edge.Routing;
using Warren.Edge.Telemetry;

namespace Warren.Edge.Admin;

/// <summary>
/// Draining a service and maintenance mode through the admin API (docs/operations.md, "Draining a service and
/// maintenance"). A drain takes no new request or TCP connection (503 with Retry-After, a reset), lets the open ones
/// finish, and marks the service drained once none is left; it holds until resumed. Maintenance answers every new
/// request with the 503 page and refuses new TCP connections until turned off. Both are kept on the service's entry,
/// so they hold through its agent's restart while the edge knows the service; an edge restart forgets them.
/// </summary>
internal sealed partial class ServiceControlApi(EdgeState state, EdgeMetrics metrics, TimeProvider time, ILogger logger, Func<TimeSpan> drainTimeout)
{
    /// <summary>How often a drain looks at the service's open requests and connections (an admin-side poll, off the request path).</summary>
    private static readonly TimeSpan DrainPoll = TimeSpan.FromMilliseconds(100);

    public void Map(WebApplication admin)
    {
        var stopping = admin.Lifetime.ApplicationStopping;
        admin.MapPost("/api/services/{name}/drain", async (HttpContext context, string name, string? owner) =>
        {
            var (entry, body, error) = await ResolveAsync(context, name, owner).ConfigureAwait(false);
            if (error is not null)
            {
                return error;
            }
            var control = new ServiceControl(ServiceState.Draining, time.GetUtcNow(), body!.RetryAfter, body.Message)
            {
                CloseAfter = body.DrainTimeoutSeconds is { } seconds ? TimeSpan.FromSeconds(seconds) : drainTimeout(),
            };
            entry!.RenewDrain();
            entry.Control = control;
            Log.Draining(logger, entry.Name, entry.Owner);
            _ = WatchDrainAsync(entry, control, stopping);
            return Results.Json(Describe(entry, metrics), AdminJson.Default.ServiceView, statusCode: StatusCodes.Status202Accepted);
        }).WithSummary("Drain: no new requests or TCP connections, the open ones finish, then the service is drained")
            .Describe(StatusCodes.Status202Accepted, withBody: true);
        admin.MapDelete("/api/services/{name}/drain", (string name, string? owner) =>
            End(name, owner, ServiceState.Draining, ServiceState.Drained, "not draining", e => Log.Resumed(logger, e.Name, e.Owner)))
            .WithSummary("End a drain: the service takes new requests and connections again").Describe(StatusCodes.Status200OK, withBody: false);
        admin.MapPut("/api/services/{name}/maintenance", async (HttpContext context, string name, string? owner) =>
        {
            var (entry, body, error) = await ResolveAsync(context, name, owner).ConfigureAwait(false);
            if (error is not null)
            {
                return error;
            }
            entry!.Control = new ServiceControl(ServiceState.Maintenance, time.GetUtcNow(), body!.RetryAfter, body.Message);
            Log.MaintenanceOn(logger, entry.Name, entry.Owner);
            return Results.Json(Describe(entry, metrics), AdminJson.Default.ServiceView);
        }).WithSummary("Maintenance on: new requests get a 503 page with Retry-After, new TCP connections are refused")
            .Describe(StatusCodes.Status200OK, withBody: true);
        admin.MapDelete("/api/services/{name}/maintenance", (string name, string? owner) =>
            End(name, owner, ServiceState.Maintenance, ServiceState.Maintenance, "not in maintenance", e => Log.MaintenanceOff(logger, e.Name, e.Owner)))
            .WithSummary("Maintenance off: the service is served again").Describe(StatusCodes.Status200OK, withBody: false);
    }

    /// <summary>One service as /api/services shows it, with its operator state and what is open on it now.</summary>
    public static ServiceView Describe(ServiceEntry s, EdgeMetrics metrics)
    {
        var control = s.Control;
        return new ServiceView(s.Name, s.Owner, s.Registration.Kind, s.Registration.Hostnames, s.Registration.PathPrefix, s.Registration.Port,
            Private: s.Registration.Private == true, // reached only with warren connect (docs/operations.md, "Private services")
            s.Sessions.Select(x => x.Id), s.Grace.Waiting, StateName(control?.State ?? ServiceState.Active), control?.Since,
            control is null ? null : (long)control.RetryAfter.TotalSeconds, control?.Message, InFlight(s, metrics));
    }

    public static string StateName(ServiceState state) => state switch
    {
        ServiceState.Draining => "draining",
        ServiceState.Drained => "drained",
        ServiceState.Maintenance => "maintenance",
        _ => "active",
    };

    /// <summary>Requests in flight plus open upgraded and TCP connections (the warren_service_active_streams gauge).</summary>
    private static long InFlight(ServiceEntry service, EdgeMetrics metrics) => (long)Math.Max(0, metrics.Existing(service)?.Active.Value ?? 0);

    private IResult End(string name, string? owner, ServiceState one, ServiceState other, string notSo, Action<ServiceEntry> log)
    {
        var (entry, error) = Find(name, owner);
        if (entry is null)
        {
            return error!;
        }
        var control = entry.Control;
        if (control is null || (control.State != one && control.State != other) || !entry.TrySetControl(control, null))
        {
            return Error(StatusCodes.Status409Conflict, $"service '{LogText.Bound(name, 80)}' is {notSo} (state: {StateName(entry.Control?.State ?? ServiceState.Active)})");
        }
        log(entry);
        return Results.Json(Describe(entry, metrics), AdminJson.Default.ServiceView);
    }

    /// <summary>
    /// Polls the service's open work until none is left twice in a row, then marks it drained (unless the drain was
    /// ended or replaced). Past the drain's timeout, the WebSockets and TCP connections still open are closed.
    /// </summary>
    private async Task WatchDrainAsync(ServiceEntry entry, ServiceControl draining, CancellationToken stopping)
    {
        try
        {
            var idle = 0;
            var started = time.GetTimestamp();
            var expired = false;
            while (entry.Control == draining)
            {
                var open = InFlight(entry, metrics);
                if (!expired && open > 0 && time.GetElapsedTime(started) >= draining.CloseAfter)
                {
                    expired = true;
                    Log.Closing(logger, entry.Name, entry.Owner, open, draining.CloseAfter.TotalSeconds);
                    entry.ExpireDrain();
                }
                idle = open == 0 ? idle + 1 : 0;
                if (idle >= 2)
                {
                    if (entry.TrySetControl(draining, draining with { State = ServiceState.Drained, Since = time.GetUtcNow() }))
                    {
                        Log.Drained(logger, entry.Name, entry.Owner);
                    }
                    return;
                }
                await Task.Delay(DrainPoll, time, stopping).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException)
        {
            // The edge stops: so does the watch.
        }
    }

    private (ServiceEntry? Entry, IResult? Error) Find(string name, string? owner)
    {
        var matches = state.Routes.AllEntries.Where(s => s.Name == name && (owner is null || s.Owner == owner)).ToList();
        return matches.Count switch
        {
            0 => (null, Error(StatusCodes.Status404NotFound, $"no service named '{LogText.Bound(name, 80)}'{(owner is null ? "" : $" of token '{LogText.Bound(owner, 80)}'")} is known to this edge")),
            1 => (matches[0], null),
            _ => (null, Error(StatusCodes.Status409Conflict,
                $"services named '{LogText.Bound(name, 80)}' are published by tokens {string.Join(", ", matches.Select(m => m.Owner).Order(StringComparer.Ordinal))}: pass ?owner=TOKEN")),
        };
    }

    private async Task<(ServiceEntry? Entry, HoldRequest? Body, IResult? Error)> ResolveAsync(HttpContext context, string name, string? owner)
    {
        var (entry, error) = Find(name, owner);
        if (entry is null)
        {
            return (null, null, error);
        }
        var body = new HoldRequest();
        if (context.Request.ContentLength is > 0 || context.Request.Headers.TransferEncoding.Count > 0)
        {
            var read = await AdminApi.ReadAsync(context, AdminJson.Default.HoldRequest).ConfigureAwait(false);
            if (read.Error is not null)
            {
                return (null, null, read.Error);
            }
            body = read.Value!;
        }
        if (body.RetryAfterSeconds is { } seconds && (seconds < 1 || seconds > ServiceControl.MaxRetryAfter.TotalSeconds))
        {
            return (null, null, Error(StatusCodes.Status400BadRequest, $"retry_after must be between 1 and {(long)ServiceControl.MaxRetryAfter.TotalSeconds} seconds, not {seconds}"));
        }
        if (body.DrainTimeoutSeconds is { } closeAfter && (closeAfter < 0 || closeAfter > ServiceControl.MaxCloseAfter.TotalSeconds))
        {
            return (null, null, Error(StatusCodes.Status400BadRequest, $"drain_timeout must be between 0 and {(long)ServiceControl.MaxCloseAfter.TotalSeconds} seconds, not {closeAfter}"));
        }
        if (body.Message is { } message && (message.Length > ServiceControl.MaxMessageLength || message.Any(char.IsControl)))
        {
            return (null, null, Error(StatusCodes.Status400BadRequest, $"message must be at most {ServiceControl.MaxMessageLength} characters on one line"));
        }
        return (entry, body, null);
    }

    private static IResult Error(int status, string message) => AdminError.Result(status, message);

    /// <summary>The optional body of a drain or maintenance request: what the 503 page says, and the Retry-After it sends.</summary>
    internal sealed record HoldRequest
    {
        [JsonPropertyName("message")] public string? Message { get; init; }
        [JsonPropertyName("retry_after")] public long? RetryAfterSeconds { get; init; }

        /// <summary>A drain's timeout in seconds (0 to 86400): open WebSockets and TCP connections are closed then; absent: edge.yaml's drain_timeout.</summary>
        [JsonPropertyName("drain_timeout")] public long? DrainTimeoutSeconds { get; init; }

        public TimeSpan RetryAfter => RetryAfterSeconds is { } s ? TimeSpan.FromSeconds(s) : ServiceControl.DefaultRetryAfter;
    }

    private static partial class Log
    {
        [LoggerMessage(620, LogLevel.Information, "Service {Service} of token {Owner}: draining (no new requests or connections; open ones finish)", EventName = "ServiceDraining")]
        public static partial void Draining(ILogger logger, string service, string owner);

        [LoggerMessage(621, LogLevel.Information, "Service {Service} of token {Owner}: drained (nothing open)", EventName = "ServiceDrained")]
        public static partial void Drained(ILogger logger, string service, string owner);

        [LoggerMessage(625, LogLevel.Information, "Service {Service} of token {Owner}: drain timeout ({Seconds} s) passed with {Open} open; closing its WebSockets and TCP connections", EventName = "ServiceDrainTimeout")]
        public static partial void Closing(ILogger logger, string service, string owner, long open, double seconds);

        [LoggerMessage(622, LogLevel.Information, "Service {Service} of token {Owner}: drain ended, served again", EventName = "ServiceResumed")]
        public static partial void Resumed(ILogger logger, string service, string owner);

        [LoggerMessage(623, LogLevel.Information, "Service {Service} of token {Owner}: maintenance on (503 page, TCP refused)", EventName = "ServiceMaintenanceOn")]
        public static partial void MaintenanceOn(ILogger logger, string service, string owner);

        [LoggerMessage(624, LogLevel.Information, "Service {Service} of token {Owner}: maintenance off, served again", EventName = "ServiceMaintenanceOff")]
        public static partial void MaintenanceOff(ILogger logger, string service, string owner);
    }
}
