using System.CommandLine;
using System.Net.Http;
using System.Text.Json;
using Warren.Configuration;

namespace Warren.Cli.Commands;

/// <summary>
/// <c>warren drain SERVICE</c>: the edge takes no new request or TCP connection for the service (503 with
/// Retry-After, a reset) while the open ones finish (POST /api/services/{name}/drain; docs/operations.md, "Draining a
/// service and maintenance"). Waits until the service is drained (exit 0) or <c>--timeout</c> passes (exit 1, with
/// what is still open); <c>--no-wait</c> returns at once. <c>--resume</c> ends the drain.
/// </summary>
internal static class DrainCommand
{
    private static readonly TimeSpan Poll = TimeSpan.FromMilliseconds(250);

    public static Command Create()
    {
        var command = new Command("drain", "Drain a service on a running edge: no new requests or connections, the open ones finish");
        var address = new AdminAddress().AddTo(command);
        var hold = new ServiceHoldOptions().AddTo(command);
        var noWait = new Option<bool>("--no-wait") { Description = "Return once the drain has begun, without waiting for the open requests" };
        var timeout = new Option<string>("--timeout") { Description = "How long to wait for the service to be drained (e.g. 90s, 10m)", DefaultValueFactory = _ => "5m" };
        var resume = new Option<bool>("--resume") { Description = "End the drain: the service takes new requests and connections again" };
        command.Options.Add(noWait);
        command.Options.Add(timeout);
        command.Options.Add(resume);
        command.Options.Add(hold.DrainTimeout);
        command.SetAction(async (parse, cancellationToken) =>
        {
            var (admin, token) = address.Read(parse);
            if (!ConfigFormats.TryParseDuration(parse.GetValue(timeout), out var wait) || wait <= TimeSpan.Zero)
            {
                await Console.Error.WriteLineAsync($"warren drain: --timeout '{parse.GetValue(timeout)}' is not a duration; use e.g. 90s or 10m").ConfigureAwait(false);
                return 2;
            }
            if (parse.GetValue(resume))
            {
                return await PrintAsync(await AdminClient.CallAsync("drain", HttpMethod.Delete, admin, hold.Path(parse, "drain"), token, null, Console.Error, cancellationToken).ConfigureAwait(false)).ConfigureAwait(false);
            }
            var started = await AdminClient.CallAsync("drain", HttpMethod.Post, admin, hold.Path(parse, "drain"), token, hold.Body(parse), Console.Error, cancellationToken).ConfigureAwait(false);
            if (started is not { ValueKind: JsonValueKind.Object } service)
            {
                return 1;
            }
            await Console.Out.WriteLineAsync(ServiceHoldOptions.Describe(service)).ConfigureAwait(false);
            if (parse.GetValue(noWait))
            {
                return 0;
            }
            return await WaitAsync(admin, token, service, wait, cancellationToken).ConfigureAwait(false);
        });
        return command;
    }

    private static async Task<int> PrintAsync(JsonElement? service)
    {
        if (service is not { ValueKind: JsonValueKind.Object } s)
        {
            return 1;
        }
        await Console.Out.WriteLineAsync(ServiceHoldOptions.Describe(s)).ConfigureAwait(false);
        return 0;
    }

    /// <summary>Reads /api/services until the service is drained or <paramref name="wait"/> passes.</summary>
    private static async Task<int> WaitAsync(string admin, string? token, JsonElement service, TimeSpan wait, CancellationToken cancellationToken)
    {
        var (name, owner) = (StatusCommand.Str(service, "name"), StatusCommand.Str(service, "owner"));
        var deadline = DateTimeOffset.UtcNow + wait;
        var last = service;
        while (StatusCommand.Str(last, "state") == "draining")
        {
            if (DateTimeOffset.UtcNow >= deadline)
            {
                await Console.Error.WriteLineAsync($"warren drain: not drained after {wait.TotalSeconds:0} s: {ServiceHoldOptions.Describe(last)} (the drain goes on; `warren drain {name} --resume` ends it)").ConfigureAwait(false);
                return 1;
            }
            await Task.Delay(Poll, cancellationToken).ConfigureAwait(false);
            if (await AdminClient.CallAsync("drain", HttpMethod.Get, admin, "/api/services", token, null, Console.Error, cancellationToken).ConfigureAwait(false) is not { ValueKind: JsonValueKind.Array } all)
            {
                return 1;
            }
            if (all.EnumerateArray().Where(s => StatusCommand.Str(s, "name") == name && StatusCommand.Str(s, "owner") == owner).Select(s => (JsonElement?)s).FirstOrDefault() is not { } current)
            {
                await Console.Error.WriteLineAsync($"warren drain: service {name} (token {owner}) is no longer known to the edge").ConfigureAwait(false);
                return 1;
            }
            last = current;
        }
        await Console.Out.WriteLineAsync(ServiceHoldOptions.Describe(last)).ConfigureAwait(false);
        return StatusCommand.Str(last, "state") == "drained" ? 0 : 1;
    }
}
