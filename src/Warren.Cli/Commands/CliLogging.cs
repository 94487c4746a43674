using System.CommandLine;
using Microsoft.Extensions.Logging;

namespace Warren.Cli.Commands;

/// <summary>Console logging shared by every command: one line per event, framework noise at warning and above.</summary>
internal static class CliLogging
{
    /// <summary><c>--log-format text|json</c>: JSON writes one object per line with every structured field (access log included).</summary>
    public static Option<string> FormatOption() => new Option<string>("--log-format")
    {
        Description = "Console log format: text (default) or json (one JSON object per line)",
        DefaultValueFactory = _ => "text",
    }.AcceptOnlyFromAmong("text", "json");

    public static ILoggerFactory Create(bool verbose, string? format = null) => LoggerFactory.Create(builder => AddConsole(builder, format == "json")
        .SetMinimumLevel(verbose ? LogLevel.Debug : LogLevel.Information)
        .AddFilter("Microsoft", LogLevel.Warning)
        // ASP.NET's hosting diagnostics open a log scope and start an Activity for every request whenever their logger
        // is enabled at any level (about 450 B and some CPU per request). Their lines are Debug/Information, filtered
        // anyway; an unhandled exception is still logged by Kestrel's own category.
        .AddFilter("Microsoft.AspNetCore.Hosting.Diagnostics", LogLevel.None)
        // "No XML encryptor configured" at every start: the OIDC session keys are kept unencrypted on purpose, in a
        // folder only the edge's user can read (docs/policy.md). A warning nobody can act on; errors still show.
        .AddFilter("Microsoft.AspNetCore.DataProtection.KeyManagement.XmlKeyManager", LogLevel.Error)
        .AddFilter("System", LogLevel.Warning)
        // YARP logs two Information lines per proxied request: at 10k req/s that was most of the edge's CPU.
        .AddFilter("Yarp", LogLevel.Warning));

    private static ILoggingBuilder AddConsole(ILoggingBuilder builder, bool json) => json
        ? builder.AddJsonConsole(options =>
        {
            options.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ";
            options.UseUtcTimestamp = true;
        })
        : builder.AddSimpleConsole(options =>
        {
            options.SingleLine = true;
            options.TimestampFormat = "HH:mm:ss ";
        });
}
