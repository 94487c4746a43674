using System.Net;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Warren.Configuration;
using Warren.Edge.Shield;

namespace Warren.Edge.Admin;

/// <summary>
/// The abuse shield's bans on the admin API (docs/operations.md, "The admin API"; what <c>warren bans</c> calls):
/// <c>GET /api/bans</c> lists the bans in force, <c>POST /api/bans</c> bans an address (its network, as a strike would:
/// shield.ipv4_prefix, shield.ipv6_prefix) or a CIDR by hand, <c>DELETE /api/bans/{address}</c> lifts every ban that
/// covers an address, or exactly the ban of a CIDR. Behind <c>admin_token</c> like the rest of the API.
/// </summary>
internal static class BanEndpoints
{
    /// <summary>A ban made by hand without a duration lasts this long.</summary>
    private static readonly TimeSpan DefaultDuration = TimeSpan.FromHours(1);

    public static void Map(WebApplication admin, AbuseShield shield)
    {
        admin.MapGet("/api/bans", () => Results.Json(shield.List().Select(b => Describe(b, shield.Now)), AdminJson.Default.IEnumerableBanView))
            .WithTags("bans").WithSummary("The abuse shield's bans in force").Produces(StatusCodes.Status200OK, contentType: "application/json");
        admin.MapPost("/api/bans", async (HttpContext context) =>
        {
            var request = await AdminApi.ReadAsync(context, AdminJson.Default.BanRequest).ConfigureAwait(false);
            if (request.Error is { } bad)
            {
                return bad;
            }
            var body = request.Value!;
            if (!TryParse(body.Address, shield, out var network))
            {
                return AdminApi.Error(StatusCodes.Status400BadRequest, $"address: '{LogText.Bound(body.Address ?? "", 64)}' is not an IP address or CIDR range (e.g. 192.0.2.7, 2001:db8:1:2::/64)");
            }
            var duration = DefaultDuration;
            if (body.Duration is not null && (!ConfigFormats.TryParseDuration(body.Duration, out duration) || duration <= TimeSpan.Zero || duration > TimeSpan.FromDays(365)))
            {
                return AdminApi.Error(StatusCodes.Status400BadRequest, $"duration: '{LogText.Bound(body.Duration, 32)}' is not a duration from 1s to 8760h (e.g. 30m, 24h)");
            }
            var reason = string.IsNullOrWhiteSpace(body.Reason) ? "banned through the admin API" : LogText.Bound(body.Reason, 200);
            if (shield.Ban(network, duration, reason) is not { } ban)
            {
                return AdminApi.Error(StatusCodes.Status409Conflict, "shield.max_bans bans are in force already: lift some or raise max_bans");
            }
            return Results.Json(Describe(ban, shield.Now), AdminJson.Default.BanView, statusCode: StatusCodes.Status201Created);
        }).WithTags("bans").WithSummary("Ban an address (its /N per shield.ipv4_prefix, shield.ipv6_prefix) or a CIDR by hand (duration default 1h)").Accepts<BanRequest>("application/json")
            .Produces(StatusCodes.Status201Created, contentType: "application/json").Produces<AdminError>(StatusCodes.Status400BadRequest)
            .Produces<AdminError>(StatusCodes.Status409Conflict);
        // A CIDR's "/" comes as %2F (`warren bans lift` escapes it), which Kestrel leaves encoded in the path.
        admin.MapDelete("/api/bans/{address}", (string address) =>
        {
            address = Uri.UnescapeDataString(address);
            if (address.Contains('/', StringComparison.Ordinal))
            {
                if (!ConfigFormats.TryParseNetwork(address, out var network))
                {
                    return AdminApi.Error(StatusCodes.Status400BadRequest, $"'{LogText.Bound(address, 64)}' is not a CIDR range");
                }
                return shield.Lift(network) ? Results.NoContent() : AdminApi.Error(StatusCodes.Status404NotFound, $"{BanKey.Format(network)} is not banned");
            }
            if (!IPAddress.TryParse(address, out var parsed))
            {
                return AdminApi.Error(StatusCodes.Status400BadRequest, $"'{LogText.Bound(address, 64)}' is not an IP address or CIDR range");
            }
            return shield.Lift(parsed) ? Results.NoContent() : AdminApi.Error(StatusCodes.Status404NotFound, $"{parsed} is not banned");
        }).WithTags("bans").WithSummary("Lift every ban covering an address, or the ban of a CIDR").Produces(StatusCodes.Status204NoContent)
            .Produces<AdminError>(StatusCodes.Status400BadRequest).Produces<AdminError>(StatusCodes.Status404NotFound);
    }

    /// <summary>An address (to its network, <see cref="AbuseShield.NetworkOf"/>) or a CIDR (as written).</summary>
    private static bool TryParse(string? text, AbuseShield shield, out IPNetwork network)
    {
        network = default;
        if (text is null)
        {
            return false;
        }
        if (text.Contains('/', StringComparison.Ordinal))
        {
            return ConfigFormats.TryParseNetwork(text, out network);
        }
        if (!ConfigFormats.IsIPAddress(text) || !IPAddress.TryParse(text, out var address))
        {
            return false;
        }
        network = shield.NetworkOf(address);
        return true;
    }

    private static BanView Describe(BanEntry ban, DateTimeOffset now) =>
        new(BanKey.Format(ban.Network), ban.Reason, ban.BannedAt, ban.Until, Math.Max(0, (long)Math.Ceiling((ban.Until - now).TotalSeconds)));

    internal sealed record BanRequest
    {
        [JsonPropertyName("address")] public string? Address { get; init; }
        [JsonPropertyName("duration")] public string? Duration { get; init; }
        [JsonPropertyName("reason")] public string? Reason { get; init; }
    }
}
