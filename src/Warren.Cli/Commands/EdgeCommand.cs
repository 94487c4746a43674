using System.CommandLine;
using Microsoft.Extensions.Logging;
using Warren.Configuration;
using Warren.Cli.Hosting;
using Warren.Edge;

namespace Warren.Cli.Commands;

/// <summary><c>warren edge</c>: run the public edge from edge.yaml (+ WARREN_* variables + flags).</summary>
internal static class EdgeCommand
{
    public static Command Create(Option<bool> verbose)
    {
        var config = new Option<string?>("--config", "-c") { Description = "Path to edge.yaml" };
        var http = new Option<string?>("--http") { Description = "Public HTTP listen address (overrides listen.http)" };
        var agents = new Option<string?>("--agents") { Description = "Agent listener address (overrides listen.agents)" };
        var admin = new Option<string?>("--admin") { Description = "Admin listener address (overrides listen.admin)" };
        var data = new Option<string?>("--data") { Description = "Data directory (overrides data)" };
        var insecure = new Option<bool>("--insecure") { Description = "Plain TCP on the agent link, for local tests only" };
        var logFormat = CliLogging.FormatOption();
        var command = new Command("edge", "Run the public edge") { config, http, agents, admin, data, insecure, logFormat };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var overrides = new Dictionary<string, string>();
            CommandHost.AddOverride(overrides, "listen.http", parse.GetValue(http));
            CommandHost.AddOverride(overrides, "listen.agents", parse.GetValue(agents));
            CommandHost.AddOverride(overrides, "listen.admin", parse.GetValue(admin));
            CommandHost.AddOverride(overrides, "data", parse.GetValue(data));
            if (parse.GetValue(insecure))
            {
                overrides["agent_tls.insecure"] = "true";
            }
            EdgeConfig edgeConfig;
            var path = parse.GetValue(config);
            var environment = ConfigLoader.ProcessEnvironment();
            try
            {
                edgeConfig = ConfigLoader.LoadEdge(path, environment, overrides);
            }
            catch (ConfigException ex)
            {
                await Console.Error.WriteLineAsync(ex.Message).ConfigureAwait(false);
                return 2;
            }
            using var loggerFactory = CliLogging.Create(parse.GetValue(verbose), parse.GetValue(logFormat));
            var logger = loggerFactory.CreateLogger("warren");
            EdgeServer edge;
            try
            {
                // A reload reads the same file with the same environment and flags (flags keep winning).
                edge = await EdgeServer.StartAsync(edgeConfig, loggerFactory, new EdgeServerOptions
                {
                    ReloadSource = path is null ? null : () => ConfigLoader.LoadEdge(path, environment, overrides),
                    // Piped to journald, a container runtime or a file: the access log writes its lines in batches there,
                    // not one write per request through the console logger. A terminal keeps the logger's colours.
                    AccessLogConsole = parse.GetValue(logFormat) != "json" && Console.IsOutputRedirected ? Console.OpenStandardOutput() : null,
                    // A running edge on the same data directory hands its sockets over, and this one will to the next.
                    Upgrades = true,
                }, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is InvalidOperationException or IOException or FormatException)
            {
                // Name the file, as configuration errors do: the fix usually goes there.
                var source = edgeConfig.SourcePath is { } file ? file + ": " : "";
                await Console.Error.WriteLineAsync($"warren edge: {source}{ex.Message}").ConfigureAwait(false);
                return 1;
            }
            await using (edge.ConfigureAwait(false))
            {
                // Every listener's port, "off" for one not configured (the HTTPS one was missing from this line).
                logger.LogInformation("Edge up: http={Http} https={Https} agents={Agents} admin={Admin}; agent link certificate SHA-256 {Fingerprint}",
                    PortOrOff(edge.HttpPort), PortOrOff(edge.HttpsPort), edge.AgentsPort, edge.AdminPort, edge.AgentCertificateFingerprint ?? "(insecure: plain TCP)");
                ServiceManager.Ready();
                using (ReloadSignal.Register(() => edge.ReloadAsync()))
                using (UpgradeSignal.Register(logger))
                {
                    // SIGTERM, or a new edge took the listening sockets over (an upgrade): drain either way.
                    await Task.WhenAny(CommandHost.WaitForShutdownAsync(cancellationToken), edge.Superseded).ConfigureAwait(false);
                }
                ServiceManager.Stopping();
                var drain = edge.Config.DrainTimeout;
                logger.LogInformation("Shutting down: draining agent sessions (up to {Seconds} s, drain_timeout)", drain.TotalSeconds);
                await edge.StopAsync(drain).ConfigureAwait(false);
            }
            return 0;
        });
        return command;
    }

    private static string PortOrOff(int? port) => port?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "off";
}
