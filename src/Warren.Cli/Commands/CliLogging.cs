using Microsoft.Extensions.Logging;

namespace Warren.Cli.Commands;

/// <summary>Console logging shared by every command: one line per event, framework noise at warning and above.</summary>
internal static class CliLogging
{
    public static ILoggerFactory Create(bool verbose) => LoggerFactory.Create(builder => builder
        .AddSimpleConsole(options =>
        {
            options.SingleLine = true;
            options.TimestampFormat = "HH:mm:ss ";
        })
        .SetMinimumLevel(verbose ? LogLevel.Debug : LogLevel.Information)
        .AddFilter("Microsoft", LogLevel.Warning)
        .AddFilter("System", LogLevel.Warning)
        // YARP logs two Information lines per proxied request: at 10k req/s that was most of the edge's CPU.
        .AddFilter("Yarp", LogLevel.Warning));
}
