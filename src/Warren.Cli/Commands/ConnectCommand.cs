using System.CommandLine;
using System.Net;
using Microsoft.Extensions.Logging;
using Warren.Agent.Connect;
using Warren.Configuration;

namespace Warren.Cli.Commands;

/// <summary>
/// <c>warren connect SERVICE --listen 127.0.0.1:PORT</c>: reach a private service through the edge (docs/operations.md,
/// "Private services"). The edge and the token come as <c>warren agent</c> takes them: flags, WARREN_* variables, or an
/// agent.yaml-shaped file (its <c>services</c> are not used).
/// </summary>
internal static class ConnectCommand
{
    public static Command Create(Option<bool> verbose)
    {
        var service = new Argument<string>("service") { Description = "The private service to reach (agent.yaml private: true)" };
        var listen = new Option<string>("--listen", "-l") { Description = "Local address to listen on, host:port (e.g. 127.0.0.1:5432; port 0 picks one)", Required = true };
        var config = new Option<string?>("--config", "-c") { Description = "A file with edge, token, edge_fingerprint, insecure, name and session, as in agent.yaml" };
        var edge = new Option<string?>("--edge") { Description = "Edge agent listener host:port" };
        var token = new Option<string?>("--token") { Description = "A token granted the service (allow_connect); prefer WARREN_TOKEN" };
        var fingerprint = new Option<string?>("--edge-fingerprint") { Description = "Pinned SHA-256 of the edge certificate" };
        var name = new Option<string?>("--name") { Description = "Name shown at the edge" };
        var insecure = new Option<bool>("--insecure") { Description = "Plain TCP to the edge, for local tests only" };
        var maxConnections = new Option<int>("--max-connections") { Description = "Local connections carried at once (1..100000); more are reset", DefaultValueFactory = _ => 256 };
        var logFormat = CliLogging.FormatOption();
        var command = new Command("connect", "Reach a private service through the edge on a local port")
        {
            service, listen, config, edge, token, fingerprint, name, insecure, maxConnections, logFormat,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var overrides = AgentCommand.LinkOverrides(parse, edge, token, fingerprint, name, insecure);
            AgentConfig edgeConfig;
            try
            {
                edgeConfig = ConfigLoader.LoadAgent(parse.GetValue(config), ConfigLoader.ProcessEnvironment(), overrides);
            }
            catch (ConfigException ex)
            {
                await Console.Error.WriteLineAsync(ex.Message).ConfigureAwait(false);
                return 2;
            }
            var serviceName = parse.GetValue(service)!;
            var listenText = parse.GetValue(listen)!;
            if (!ServiceRules.IsName(serviceName))
            {
                await Console.Error.WriteLineAsync("warren connect: " + ServiceRules.NameProblem(serviceName, "service")).ConfigureAwait(false);
                return 2;
            }
            if (!ConfigFormats.TryParseHostPort(listenText, out var host, out var port) || !IPAddress.TryParse(host, out var address) || port is < 0 or > 65535)
            {
                await Console.Error.WriteLineAsync($"warren connect: --listen '{listenText}' is not an IP address and port, e.g. 127.0.0.1:5432").ConfigureAwait(false);
                return 2;
            }
            if (parse.GetValue(maxConnections) is < 1 or > 100_000)
            {
                await Console.Error.WriteLineAsync("warren connect: --max-connections must be 1 to 100000").ConfigureAwait(false);
                return 2;
            }
            using var loggerFactory = CliLogging.Create(parse.GetValue(verbose), parse.GetValue(logFormat));
            var client = new ConnectClient(edgeConfig, serviceName, new IPEndPoint(address, port), loggerFactory,
                new ConnectClientOptions { MaxConnections = parse.GetValue(maxConnections) });
            await using (client.ConfigureAwait(false))
            {
                try
                {
                    await client.StartAsync(cancellationToken).ConfigureAwait(false);
                    await Task.WhenAny(client.Completion, CommandHost.WaitForShutdownAsync(cancellationToken)).ConfigureAwait(false);
                    await (client.Completion.IsCompleted ? client.Completion : Task.CompletedTask).ConfigureAwait(false);
                }
                catch (ConnectRefusedException ex)
                {
                    await Console.Error.WriteLineAsync($"warren connect: {ex.Message}").ConfigureAwait(false);
                    return 1;
                }
                catch (Exception ex) when (ex is IOException or System.Net.Sockets.SocketException or TimeoutException or Warren.Protocol.Session.MuxException)
                {
                    await Console.Error.WriteLineAsync($"warren connect: cannot reach the edge at {edgeConfig.Edge}, or listen on {listenText}: {ex.Message}").ConfigureAwait(false);
                    return 1;
                }
                catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
                {
                    return 0;
                }
            }
            return 0;
        });
        return command;
    }
}
