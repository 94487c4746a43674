using System.Collections.Frozen;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Warren.Admin;

/// <summary>
/// The console's static files, embedded in this assembly (Assets/): its stylesheet and script, and uPlot, the chart
/// library (npm uplot@1.6.32, MIT, committed as built). Served without a login: they hold no data, and the login
/// page needs the stylesheet.
/// </summary>
internal static class ConsoleAssets
{
    public const string Prefix = "/console/assets/";
    public const string Css = Prefix + "console.css";
    public const string Script = Prefix + "console.js";
    public const string Uplot = Prefix + "uplot-1.6.32/uPlot.iife.min.js";
    public const string UplotCss = Prefix + "uplot-1.6.32/uPlot.min.css";

    private static readonly FrozenDictionary<string, (byte[] Content, string Type)> Files = Load();

    public static void Map(WebApplication app) => app.MapGet(Prefix + "{**name}", (HttpContext context, string name) =>
    {
        if (!Files.TryGetValue(name, out var file))
        {
            return Results.NotFound();
        }
        context.Response.Headers.CacheControl = "private, max-age=300";
        return Results.Bytes(file.Content, file.Type);
    });

    private static FrozenDictionary<string, (byte[], string)> Load()
    {
        var assembly = typeof(ConsoleAssets).Assembly;
        var files = new Dictionary<string, (byte[], string)>(StringComparer.Ordinal);
        foreach (var resource in assembly.GetManifestResourceNames())
        {
            if (!resource.StartsWith("assets/", StringComparison.Ordinal))
            {
                continue;
            }
            using var stream = assembly.GetManifestResourceStream(resource)!;
            using var buffer = new MemoryStream();
            stream.CopyTo(buffer);
            var name = resource["assets/".Length..].Replace('\\', '/');
            var type = Path.GetExtension(name) switch
            {
                ".css" => "text/css; charset=utf-8",
                ".js" => "text/javascript; charset=utf-8",
                _ => "text/plain; charset=utf-8",
            };
            files[name] = (buffer.ToArray(), type);
        }
        return files.ToFrozenDictionary(StringComparer.Ordinal);
    }
}
