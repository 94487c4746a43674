using System.CommandLine;
using System.Net.Http;
using System.Text.Json;
using System.Text.Json.Serialization;
using Warren.Configuration;

namespace Warren.Cli.Commands;

/// <summary>
/// <c>warren reload [--admin 127.0.0.1:9090] [--admin-token TOKEN]</c>: asks a running edge (or agent, at its admin
/// address) to read its configuration file again (POST /api/reload; docs/operations.md, "Reload"). Prints what was
/// applied and what needs a restart; exit 1 with the configuration's errors when the new file was refused (the
/// running configuration stays). <c>kill -HUP</c> does the same without the admin listener.
/// </summary>
internal static class ReloadCommand
{
    public static Command Create()
    {
        var command = new Command("reload", "Reload the configuration of a running edge or agent (as SIGHUP does)");
        var address = new AdminAddress().AddTo(command);
        command.SetAction((parse, cancellationToken) =>
        {
            var (admin, token) = address.Read(parse);
            return RunAsync(admin, token, Console.Out, Console.Error, cancellationToken);
        });
        return command;
    }

    public static async Task<int> RunAsync(string admin, string? token, TextWriter output, TextWriter error, CancellationToken cancellationToken)
    {
        var (status, body, problem) = await AdminClient.SendAsync(HttpMethod.Post, admin, "/api/reload", token, null, cancellationToken).ConfigureAwait(false);
        if (problem is not null)
        {
            await error.WriteLineAsync($"warren reload: {problem}").ConfigureAwait(false);
            return 1;
        }
        ReloadResult? result = null;
        try
        {
            result = JsonSerializer.Deserialize(body, ReloadResultJson.Default.ReloadResult);
        }
        catch (JsonException)
        {
        }
        if (result is null)
        {
            await error.WriteLineAsync($"warren reload: the admin listener answered {status} without a reload result: {body}").ConfigureAwait(false);
            return 1;
        }
        if (!result.Ok)
        {
            await error.WriteLineAsync($"warren reload: refused, the running configuration stays:{Environment.NewLine}{result.Error}").ConfigureAwait(false);
            return 1;
        }
        await output.WriteLineAsync(result.ToString()).ConfigureAwait(false);
        return 0;
    }
}

/// <summary>The admin API's reload answer, read through source-generated code (no reflection).</summary>
[JsonSerializable(typeof(ReloadResult))]
internal sealed partial class ReloadResultJson : JsonSerializerContext;
