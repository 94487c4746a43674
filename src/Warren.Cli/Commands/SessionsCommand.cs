using System.CommandLine;
using System.Globalization;
using System.Net.Http;
using System.Text;
using System.Text.Json;

namespace Warren.Cli.Commands;

/// <summary>
/// <c>warren sessions [list]</c> and <c>warren sessions kick ID</c>: the edge's agent sessions through its admin API
/// (GET /api/sessions, DELETE /api/sessions/{id}; docs/operations.md, "The admin API"). A kicked agent connects again
/// after its backoff: revoke its token to keep it out.
/// </summary>
internal static class SessionsCommand
{
    public static Command Create()
    {
        var command = new Command("sessions", "List the agent sessions of a running edge, or close one");
        var address = new AdminAddress().AddTo(command);
        var list = new Command("list", "List the agent sessions (the default)");
        command.SetAction((parse, cancellationToken) => ListAsync(address.Read(parse), Console.Out, Console.Error, cancellationToken));
        list.SetAction((parse, cancellationToken) => ListAsync(address.Read(parse), Console.Out, Console.Error, cancellationToken));
        var id = new Argument<long>("id") { Description = "The session's id (the ID column of `warren sessions`)" };
        var kick = new Command("kick", "Close a session now; its agent connects again after its backoff") { id };
        kick.SetAction((parse, cancellationToken) => KickAsync(address.Read(parse), parse.GetValue(id), Console.Out, Console.Error, cancellationToken));
        command.Subcommands.Add(list);
        command.Subcommands.Add(kick);
        return command;
    }

    private static async Task<int> ListAsync((string Admin, string? Token) at, TextWriter output, TextWriter error, CancellationToken cancellationToken)
    {
        if (await AdminClient.CallAsync("sessions", HttpMethod.Get, at.Admin, "/api/sessions", at.Token, null, error, cancellationToken).ConfigureAwait(false) is not { ValueKind: JsonValueKind.Array } sessions)
        {
            return 1;
        }
        var text = new StringBuilder();
        StatusCommand.RenderSessions(text, sessions.EnumerateArray());
        await output.WriteAsync(text.ToString()).ConfigureAwait(false);
        return 0;
    }

    private static async Task<int> KickAsync((string Admin, string? Token) at, long id, TextWriter output, TextWriter error, CancellationToken cancellationToken)
    {
        var path = "/api/sessions/" + id.ToString(CultureInfo.InvariantCulture);
        if (await AdminClient.CallAsync("sessions kick", HttpMethod.Delete, at.Admin, path, at.Token, null, error, cancellationToken).ConfigureAwait(false) is null)
        {
            return 1;
        }
        await output.WriteLineAsync($"session {id} closed").ConfigureAwait(false);
        return 0;
    }
}
