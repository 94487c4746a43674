using System.CommandLine;
using Warren.Configuration;
using Warren.Demo;

namespace Warren.Cli.Commands;

/// <summary>
/// <c>warren demo</c>: an edge, an agent and two sample services in one process on loopback, wired exactly as
/// in production (TLS agent link with a pinned self-signed certificate, a scoped token), printing what to try.
/// </summary>
internal static class DemoCommand
{
    public static Command Create(Option<bool> verbose)
    {
        var httpPort = new Option<int>("--http-port") { Description = "Public HTTP port of the demo edge (0 = any free port)", DefaultValueFactory = _ => 8080 };
        var tcpPort = new Option<int>("--tcp-port") { Description = "Edge port of the TCP echo service (0 = any free port)", DefaultValueFactory = _ => 0 };
        var logFormat = CliLogging.FormatOption();
        var command = new Command("demo", "Run an edge, an agent and sample services on loopback") { httpPort, tcpPort, logFormat };
        command.SetAction(async (parse, cancellationToken) =>
        {
            // System.CommandLine installs its SIGINT/SIGTERM handler only once the action first yields; the start
            // below can run a second without yielding, and a Ctrl+C in it would kill the process uncleanly.
            await Task.Yield();
            using var loggerFactory = CliLogging.Create(parse.GetValue(verbose), parse.GetValue(logFormat));
            try
            {
                await using var demo = await DemoEnvironment.StartAsync(parse.GetValue(httpPort), parse.GetValue(tcpPort), loggerFactory, cancellationToken).ConfigureAwait(false);
                Console.WriteLine(demo.Banner());
                await CommandHost.WaitForShutdownAsync(cancellationToken).ConfigureAwait(false);
                Console.WriteLine("Stopping the demo...");
                return 0;
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                // Ctrl+C before the demo was up: everything started so far is stopped already.
                Console.WriteLine("Stopping the demo...");
                return 0;
            }
            catch (Exception ex) when (ex is IOException or InvalidOperationException or ConfigException or TimeoutException)
            {
                await Console.Error.WriteLineAsync("warren demo: " + ex.Message).ConfigureAwait(false);
                if (ex.InnerException is System.Net.Sockets.SocketException { SocketErrorCode: System.Net.Sockets.SocketError.AddressAlreadyInUse })
                {
                    await Console.Error.WriteLineAsync("The port is taken; try: warren demo --http-port 0").ConfigureAwait(false);
                }
                return 1;
            }
        });
        return command;
    }
}
