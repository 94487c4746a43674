using System.CommandLine;
using System.Net;
using System.Net.Http;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Warren.Cli.Commands;

/// <summary>
/// <c>warren bans [list] | ban ADDRESS [--for 24h] [--reason TEXT] | lift ADDRESS</c>: the abuse shield's bans on a
/// running edge, through its admin API (GET, POST and DELETE /api/bans; docs/policy.md, "Abuse shield"). The running
/// edge holds the bans in memory, so they are changed through it, never in warren.db behind its back.
/// </summary>
internal static class BansCommand
{
    public static Command Create()
    {
        var admin = new Option<string>("--admin") { Description = "Admin address of the edge (host:port or URL)", DefaultValueFactory = _ => StatusCommand.DefaultAdmin, Recursive = true };
        var token = new Option<string?>("--admin-token") { Description = $"The admin listener's admin_token; default: the {StatusCommand.TokenVariable} environment variable", Recursive = true };
        var command = new Command("bans", "List, add and lift the abuse shield's bans of client addresses") { admin, token };
        command.SetAction((parse, ct) => ListAsync(Admin(parse), Token(parse), Console.Out, Console.Error, ct));

        var list = new Command("list", "List the bans in force");
        list.SetAction((parse, ct) => ListAsync(Admin(parse), Token(parse), Console.Out, Console.Error, ct));

        var address = new Argument<string>("address") { Description = "The client IP address (banned with its /64 for IPv6, per shield.ipv6_prefix) or a CIDR range" };
        var duration = new Option<string?>("--for") { Description = "How long, e.g. 30m or 24h (default 1h)" };
        var reason = new Option<string?>("--reason") { Description = "Why, shown in the list and the log" };
        var ban = new Command("ban", "Ban a client address by hand") { address, duration, reason };
        ban.SetAction((parse, ct) => SendAsync(HttpMethod.Post, Admin(parse), Token(parse), "/api/bans",
            new JsonObject { ["address"] = parse.GetValue(address), ["duration"] = parse.GetValue(duration), ["reason"] = parse.GetValue(reason) }.ToJsonString(),
            $"banned {parse.GetValue(address)}", Console.Out, Console.Error, ct));

        var liftAddress = new Argument<string>("address") { Description = "A client IP address (every ban covering it is lifted) or a banned CIDR range" };
        var lift = new Command("lift", "Lift a ban now") { liftAddress };
        lift.SetAction((parse, ct) => SendAsync(HttpMethod.Delete, Admin(parse), Token(parse), "/api/bans/" + Uri.EscapeDataString(parse.GetValue(liftAddress)!),
            null, $"lifted the ban on {parse.GetValue(liftAddress)}", Console.Out, Console.Error, ct));

        command.Subcommands.Add(list);
        command.Subcommands.Add(ban);
        command.Subcommands.Add(lift);
        return command;

        string Admin(ParseResult parse) => parse.GetValue(admin)!;
        string? Token(ParseResult parse) => parse.GetValue(token) ?? Environment.GetEnvironmentVariable(StatusCommand.TokenVariable);
    }

    public static async Task<int> ListAsync(string admin, string? token, TextWriter output, TextWriter error, CancellationToken cancellationToken)
    {
        var (status, body, problem) = await AdminClient.SendAsync(HttpMethod.Get, admin, "/api/bans", token, null, cancellationToken).ConfigureAwait(false);
        if (problem is not null || status != HttpStatusCode.OK)
        {
            await error.WriteLineAsync($"warren bans: {problem ?? $"{(int)status}: {body}"}").ConfigureAwait(false);
            return 1;
        }
        using var bans = JsonDocument.Parse(body);
        if (bans.RootElement.GetArrayLength() == 0)
        {
            await output.WriteLineAsync("no bans").ConfigureAwait(false);
            return 0;
        }
        await output.WriteLineAsync($"{"ADDRESS",-40} {"UNTIL (UTC)",-20} REASON").ConfigureAwait(false);
        foreach (var ban in bans.RootElement.EnumerateArray())
        {
            var until = ban.GetProperty("until").GetDateTimeOffset().UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", System.Globalization.CultureInfo.InvariantCulture);
            await output.WriteLineAsync($"{ban.GetProperty("address").GetString(),-40} {until,-20} {ban.GetProperty("reason").GetString()}").ConfigureAwait(false);
        }
        return 0;
    }

    private static async Task<int> SendAsync(HttpMethod method, string admin, string? token, string path, string? json, string done,
        TextWriter output, TextWriter error, CancellationToken cancellationToken)
    {
        var (status, body, problem) = await AdminClient.SendAsync(method, admin, path, token, json, cancellationToken).ConfigureAwait(false);
        if (problem is not null || (int)status >= 300)
        {
            var message = problem;
            if (message is null)
            {
                try
                {
                    message = JsonDocument.Parse(body).RootElement.GetProperty("error").GetString();
                }
                catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException)
                {
                }
            }
            await error.WriteLineAsync($"warren bans: {message ?? $"{(int)status}: {body}"}").ConfigureAwait(false);
            return 1;
        }
        await output.WriteLineAsync(done).ConfigureAwait(false);
        return 0;
    }
}
