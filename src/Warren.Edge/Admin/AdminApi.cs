using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Warren.Configuration;
using Warren.Edge.Agents;
using Warren.Edge.Telemetry;
using Warren.Edge.Tokens;
using Warren.Protocol.Framing;

namespace Warren.Edge.Admin;

/// <summary>
/// The runtime API on the admin listener (docs/operations.md, "The admin API"): sessions (list, close), services,
/// tokens (list, create, revoke) and reload. Behind <c>admin_token</c> like everything but the probes
/// (Warren.Admin's AdminGate). Errors are <c>{"error": "..."}</c> with a 4xx status.
/// </summary>
internal static class AdminApi
{
    private const string Json = "application/json";

    /// <summary>A token request body is a few names and ports: anything larger is refused before it is read.</summary>
    private const long MaxBodyBytes = 64 * 1024;

    public static void Map(WebApplication admin, EdgeState state, EdgeMetrics metrics, TokenValidator tokens, Func<IReadOnlyList<EdgeTokenConfig>> configuredTokens,
        Func<Task<ReloadResult>> reload)
    {
        admin.MapGet("/api/sessions", () => Results.Json(state.Sessions.OrderBy(s => s.Id).Select(Describe), AdminJson.Default.IEnumerableSessionView))
            .WithTags("sessions").WithSummary("Agent sessions: id, agent, token, remote, connected_at, rtt_ms, streams, services, link").Produces(StatusCodes.Status200OK, contentType: Json);
        admin.MapDelete("/api/sessions/{id:long}", (long id) =>
        {
            if (state.Sessions.FirstOrDefault(s => s.Id == id) is not { } session)
            {
                return Error(StatusCodes.Status404NotFound, $"no session {id}");
            }
            // Closed now; its agent connects again after its backoff (revoke the token to keep it out).
            session.Mux.Abort(ErrorCode.NoError, "closed through the admin API");
            return Results.NoContent();
        }).WithTags("sessions").WithSummary("Close a session now (its agent connects again after its backoff)")
            .Produces(StatusCodes.Status204NoContent).Produces<AdminError>(StatusCodes.Status404NotFound);
        admin.MapGet("/api/services", () => Results.Json(state.Routes.AllEntries.OrderBy(s => s.Name, StringComparer.Ordinal)
            .ThenBy(s => s.Owner, StringComparer.Ordinal).Select(s => ServiceControlApi.Describe(s, metrics)), AdminJson.Default.IEnumerableServiceView))
            .WithTags("services").WithSummary("Services the edge knows (registered now or offline), with their drain or maintenance state and what is open on them")
            .Produces(StatusCodes.Status200OK, contentType: Json);
        admin.MapGet("/api/tokens", async () =>
        {
            var stored = tokens.Store is { } store ? await Task.Run(store.List).ConfigureAwait(false) : Array.Empty<StoredToken>();
            return Results.Json(configuredTokens().Select(t => new TokenView(t.Name, "edge.yaml", "active", t.AllowHosts, t.AllowPorts, t.AllowPrivate,
                t.AllowConnect, MaxSessions: null, t.Quota?.Daily, t.Quota?.Monthly, CreatedAt: null, RevokedAt: null))
                .Concat(stored.Select(t => new TokenView(t.Name, "database", t.RevokedAt is null ? "active" : "revoked", t.AllowHosts, t.AllowPorts,
                    t.AllowPrivate, t.AllowConnect, t.MaxSessions, t.Quota?.Daily, t.Quota?.Monthly, t.CreatedAt, t.RevokedAt))),
                AdminJson.Default.IEnumerableTokenView);
        }).WithTags("tokens").WithSummary("Agent tokens from edge.yaml and the token database (never a secret)").Produces(StatusCodes.Status200OK, contentType: Json);
        admin.MapPost("/api/tokens", async (HttpContext context) =>
        {
            if (tokens.Store is not { } store)
            {
                return Error(StatusCodes.Status409Conflict, "this edge has no token database");
            }
            var request = await ReadAsync(context, AdminJson.Default.TokenCreateRequest).ConfigureAwait(false);
            if (request.Error is { } bad)
            {
                return bad;
            }
            var body = request.Value!;
            IReadOnlyList<string> hosts = body.AllowHosts ?? [];
            IReadOnlyList<int> ports = body.AllowPorts ?? [];
            var dailyProblem = Size(body.QuotaDaily, "quota_daily", out var daily);
            var monthlyProblem = Size(body.QuotaMonthly, "quota_monthly", out var monthly);
            if ((dailyProblem ?? monthlyProblem) is { } badSize)
            {
                return Error(StatusCodes.Status400BadRequest, badSize);
            }
            var quota = daily is null && monthly is null ? null : new QuotaConfig { Daily = daily, Monthly = monthly };
            var privateServices = new PrivateGrant(body.AllowPrivate ?? [], body.AllowConnect ?? []);
            if (TokenRules.Problem(body.Name, hosts, ports, body.MaxSessions, TokenRules.JsonKeys, quota, privateServices) is { } problem)
            {
                return Error(StatusCodes.Status400BadRequest, problem);
            }
            if (configuredTokens().Any(t => t.Name == body.Name))
            {
                return Error(StatusCodes.Status409Conflict, $"a token named '{body.Name}' is defined in edge.yaml");
            }
            string secret;
            try
            {
                secret = await Task.Run(() => store.Create(body.Name!, [.. hosts.Select(HostNames.ToLowerAscii)], ports, body.MaxSessions, quota, privateServices)).ConfigureAwait(false);
            }
            catch (InvalidOperationException ex)
            {
                return Error(StatusCodes.Status409Conflict, ex.Message);
            }
            await Task.Run(tokens.Refresh).ConfigureAwait(false); // usable at once (and its quota counted), not at the next poll of the database
            return Results.Json(new TokenCreated(body.Name!, secret), AdminJson.Default.TokenCreated, statusCode: StatusCodes.Status201Created);
        }).WithTags("tokens").WithSummary("Create a database token; 201 with its secret, shown this once")
            .Accepts<TokenCreateRequest>(Json).Produces(StatusCodes.Status201Created, contentType: Json)
            .Produces<AdminError>(StatusCodes.Status400BadRequest).Produces<AdminError>(StatusCodes.Status409Conflict).Produces<AdminError>(StatusCodes.Status413PayloadTooLarge);
        admin.MapDelete("/api/tokens/{name}", async (string name) =>
        {
            if (configuredTokens().Any(t => t.Name == name))
            {
                return Error(StatusCodes.Status409Conflict, $"'{LogText.Bound(name, 80)}' is defined in edge.yaml: remove it there and reload");
            }
            if (tokens.Store is not { } store || !await Task.Run(() => store.Revoke(name)).ConfigureAwait(false))
            {
                return Error(StatusCodes.Status404NotFound, $"no active token named '{LogText.Bound(name, 80)}'");
            }
            await Task.Run(tokens.Refresh).ConfigureAwait(false); // its sessions close now
            return Results.NoContent();
        }).WithTags("tokens").WithSummary("Revoke a database token; its sessions close now")
            .Produces(StatusCodes.Status204NoContent).Produces<AdminError>(StatusCodes.Status404NotFound).Produces<AdminError>(StatusCodes.Status409Conflict);
        // Hot reload (docs/operations.md, "Reload"): what `warren reload` calls; 422 when refused whole.
        admin.MapPost("/api/reload", async () =>
        {
            var result = await reload().ConfigureAwait(false);
            return Results.Json(result, AdminJson.Default.ReloadResult, statusCode: result.Ok ? StatusCodes.Status200OK : StatusCodes.Status422UnprocessableEntity);
        }).WithTags("reload").WithSummary("Read edge.yaml again and apply what changed; 422 when the new file is refused (the running configuration stays)")
            .Produces<ReloadResult>(StatusCodes.Status200OK).Produces<ReloadResult>(StatusCodes.Status422UnprocessableEntity);
    }

    /// <summary>One session as /api/sessions and /api/status show it.</summary>
    public static SessionView Describe(AgentSession s) => new(s.Id, s.AgentName, s.TokenName, s.Remote?.ToString(), s.ConnectedAt,
        s.Mux.SmoothedRtt.TotalMilliseconds, s.Mux.StreamCount, s.Services.Select(x => x.Name), s.Link);

    internal static IResult Error(int status, string message) => AdminError.Result(status, message);

    internal static async Task<(T? Value, IResult? Error)> ReadAsync<T>(HttpContext context, JsonTypeInfo<T> type) where T : class
    {
        if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
        {
            limit.MaxRequestBodySize = MaxBodyBytes;
        }
        try
        {
            var value = await JsonSerializer.DeserializeAsync(context.Request.Body, type, context.RequestAborted).ConfigureAwait(false);
            return value is null ? (null, Error(StatusCodes.Status400BadRequest, "the body must be a JSON object")) : (value, null);
        }
        catch (JsonException ex)
        {
            return (null, Error(StatusCodes.Status400BadRequest, $"the body is not valid JSON: {LogText.Bound(ex.Message, 200)}"));
        }
        catch (BadHttpRequestException ex) when (ex.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            return (null, Error(StatusCodes.Status413PayloadTooLarge, $"the body is larger than {MaxBodyBytes} bytes"));
        }
    }

    /// <summary>A quota in a request body: a size ("10GB", "512MiB") or a number of bytes; null when absent, else why it is not one.</summary>
    private static string? Size(JsonElement? value, string key, out long? bytes)
    {
        bytes = null;
        switch (value)
        {
            case null or { ValueKind: JsonValueKind.Null }:
                return null;
            case { ValueKind: JsonValueKind.Number } number when number.TryGetInt64(out var n):
                bytes = n;
                return null;
            case { ValueKind: JsonValueKind.String } text when ConfigFormats.TryParseSize(text.GetString(), out var parsed):
                bytes = parsed;
                return null;
            default:
                return $"{key} must be a size such as \"10GB\" or \"512MiB\", or a number of bytes";
        }
    }

    internal sealed record TokenCreateRequest
    {
        [JsonPropertyName("name")] public string? Name { get; init; }
        [JsonPropertyName("allow_hosts")] public IReadOnlyList<string>? AllowHosts { get; init; }
        [JsonPropertyName("allow_ports")] public IReadOnlyList<int>? AllowPorts { get; init; }
        [JsonPropertyName("max_sessions")] public int? MaxSessions { get; init; }

        /// <summary>Private services the token may publish (docs/operations.md, "Private services").</summary>
        [JsonPropertyName("allow_private")] public IReadOnlyList<string>? AllowPrivate { get; init; }

        /// <summary>Private services the token may reach with <c>warren connect</c>.</summary>
        [JsonPropertyName("allow_connect")] public IReadOnlyList<string>? AllowConnect { get; init; }

        /// <summary>Bytes a UTC day, at least 1MB (docs/console.md, "Quotas"): "10GB" or a number.</summary>
        [JsonPropertyName("quota_daily")] public JsonElement? QuotaDaily { get; init; }

        /// <summary>Bytes a UTC month, at least 1MB, not less than quota_daily.</summary>
        [JsonPropertyName("quota_monthly")] public JsonElement? QuotaMonthly { get; init; }
    }
}
