using System.CommandLine;
using System.Net.Http;

namespace Warren.Cli.Commands;

/// <summary>
/// <c>warren maintenance SERVICE on|off</c>: while on, the edge answers every new request for the service with a 503
/// page (Retry-After, the operator's <c>--message</c>) and refuses new TCP connections; open ones go on
/// (PUT/DELETE /api/services/{name}/maintenance; docs/operations.md, "Draining a service and maintenance").
/// </summary>
internal static class MaintenanceCommand
{
    public static Command Create()
    {
        var command = new Command("maintenance", "Turn maintenance of a service on a running edge on (a 503 page, TCP refused) or off");
        var address = new AdminAddress().AddTo(command);
        var hold = new ServiceHoldOptions().AddTo(command);
        var state = new Argument<string>("state") { Description = "on or off" };
        state.AcceptOnlyFromAmong("on", "off");
        command.Arguments.Add(state);
        command.SetAction(async (parse, cancellationToken) =>
        {
            var (admin, token) = address.Read(parse);
            var on = parse.GetValue(state) == "on";
            var service = await AdminClient.CallAsync("maintenance", on ? HttpMethod.Put : HttpMethod.Delete, admin, hold.Path(parse, "maintenance"), token,
                on ? hold.Body(parse) : null, Console.Error, cancellationToken).ConfigureAwait(false);
            if (service is not { ValueKind: System.Text.Json.JsonValueKind.Object } s)
            {
                return 1;
            }
            await Console.Out.WriteLineAsync(ServiceHoldOptions.Describe(s)).ConfigureAwait(false);
            return 0;
        });
        return command;
    }
}
