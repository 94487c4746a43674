using System.CommandLine;
using Microsoft.Extensions.Logging;
using Warren.Agent;
using Warren.Cli.Hosting;
using Warren.Configuration;

namespace Warren.Cli.Commands;

/// <summary>
/// <c>warren agent</c>: publish the services in agent.yaml through the edge. The same command is the whole of the
/// <c>warren-agent</c> binary (src/Warren.AgentCli), which compiles this file in.
/// </summary>
internal static class AgentCommand
{
    public static Command Create(Option<bool> verbose) => Configure(new Command("agent", "Run an agent next to private services"), verbose);

    /// <summary>Gives <paramref name="command"/> the agent's options and action.</summary>
    public static Command Configure(Command command, Option<bool> verbose)
    {
        var config = new Option<string?>("--config", "-c") { Description = "Path to agent.yaml" };
        var edge = new Option<string?>("--edge") { Description = "Edge agent listener host:port (overrides edge)" };
        var token = new Option<string?>("--token") { Description = "Agent token (overrides token; prefer WARREN_TOKEN)" };
        var fingerprint = new Option<string?>("--edge-fingerprint") { Description = "Pinned SHA-256 of the edge certificate" };
        var name = new Option<string?>("--name") { Description = "Agent name shown at the edge" };
        var insecure = new Option<bool>("--insecure") { Description = "Plain TCP to the edge, for local tests only" };
        var admin = new Option<string?>("--admin") { Description = "Local admin address for /metrics, /healthz, /readyz, /api/status (overrides admin)" };
        var logFormat = CliLogging.FormatOption();
        foreach (var option in new Option[] { config, edge, token, fingerprint, name, insecure, logFormat })
        {
            command.Options.Add(option);
        }
        // warren-agent has no admin listener: no --admin flag either (an admin: key is refused at start).
        if (WarrenAgent.AdminListenerSupported)
        {
            command.Options.Add(admin);
        }
        command.SetAction(async (parse, cancellationToken) =>
        {
            var overrides = LinkOverrides(parse, edge, token, fingerprint, name, insecure);
            CommandHost.AddOverride(overrides, "admin", parse.GetValue(admin));
            AgentConfig agentConfig;
            var path = parse.GetValue(config);
            var environment = ConfigLoader.ProcessEnvironment();
            try
            {
                agentConfig = ConfigLoader.LoadAgent(path, environment, overrides);
            }
            catch (ConfigException ex)
            {
                await Console.Error.WriteLineAsync(ex.Message).ConfigureAwait(false);
                return 2;
            }
            using var loggerFactory = CliLogging.Create(parse.GetValue(verbose), parse.GetValue(logFormat));
            var logger = loggerFactory.CreateLogger("warren");
            var agent = new WarrenAgent(agentConfig, loggerFactory, new WarrenAgentOptions
            {
                ReloadSource = path is null ? null : () => ConfigLoader.LoadAgent(path, environment, overrides),
            });
            try
            {
                agent.Start();
            }
            catch (ConfigException ex)
            {
                // A setting this build cannot serve (the admin listener in warren-agent): refused before any session starts.
                await agent.DisposeAsync().ConfigureAwait(false);
                await Console.Error.WriteLineAsync(ex.Message).ConfigureAwait(false);
                return 2;
            }
            logger.LogInformation("Agent {Name} started: {Count} services, {Connections} session(s) to {Edge}",
                agentConfig.Name, agentConfig.Services.Count, agentConfig.Connections, agentConfig.Edge);
            ServiceManager.Ready();
            using (ReloadSignal.Register(() => agent.ReloadAsync()))
            {
                await CommandHost.WaitForShutdownAsync(cancellationToken).ConfigureAwait(false);
            }
            ServiceManager.Stopping();
            var drain = agent.Config.DrainTimeout;
            logger.LogInformation("Shutting down: draining in-flight streams (up to {Seconds} s, drain_timeout)", drain.TotalSeconds);
            await agent.StopAsync(drain).ConfigureAwait(false);
            return 0;
        });
        return command;
    }

    /// <summary>The link to the edge from the flags (<c>warren agent</c> and <c>warren connect</c> take the same ones).</summary>
    internal static Dictionary<string, string> LinkOverrides(ParseResult parse, Option<string?> edge, Option<string?> token, Option<string?> fingerprint,
        Option<string?> name, Option<bool> insecure)
    {
        var overrides = new Dictionary<string, string>();
        CommandHost.AddOverride(overrides, "edge", parse.GetValue(edge));
        CommandHost.AddOverride(overrides, "token", parse.GetValue(token));
        CommandHost.AddOverride(overrides, "edge_fingerprint", parse.GetValue(fingerprint));
        CommandHost.AddOverride(overrides, "name", parse.GetValue(name));
        if (parse.GetValue(insecure))
        {
            overrides["insecure"] = "true";
        }
        return overrides;
    }
}
