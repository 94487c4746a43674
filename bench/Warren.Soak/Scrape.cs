using System.Globalization;

namespace Warren.Soak;

/// <summary>One read of an admin listener's /metrics: each sample by its full name (with labels) and summed by metric name.</summary>
internal sealed class Scrape
{
    private readonly Dictionary<string, double> _byName = new(StringComparer.Ordinal);

    public static async Task<Scrape?> ReadAsync(HttpClient client, int adminPort)
    {
        try
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            var text = await client.GetStringAsync(new Uri($"http://127.0.0.1:{adminPort}/metrics"), cts.Token);
            return Parse(text);
        }
        catch (Exception ex) when (ex is HttpRequestException or OperationCanceledException or IOException)
        {
            return null; // the agent is restarting
        }
    }

    public static Scrape Parse(string text)
    {
        var scrape = new Scrape();
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.Trim();
            if (line.Length == 0 || line[0] == '#')
            {
                continue;
            }
            var space = line.LastIndexOf(' ');
            if (space <= 0 || !double.TryParse(line.AsSpan(space + 1), NumberStyles.Float, CultureInfo.InvariantCulture, out var value))
            {
                continue;
            }
            var brace = line.IndexOf('{', StringComparison.Ordinal);
            var name = brace > 0 && brace < space ? line[..brace] : line[..space];
            scrape._byName[name] = scrape._byName.GetValueOrDefault(name) + value;
        }
        return scrape;
    }

    /// <summary>The metric summed over its labels; 0 when absent.</summary>
    public double this[string name] => _byName.GetValueOrDefault(name);
}
