using System.Globalization;
using System.Net.Http;
using System.Text;
using System.Text.RegularExpressions;
using Warren.Configuration;
using Warren.Testing.Logging;

namespace Warren.Testing.Hosting;

/// <summary>
/// A real <c>warren edge</c> process with one token for *.test. Its listeners are bound to port 0 on loopback; the
/// ports and the agent certificate's fingerprint are read back from the line the edge logs once it is up.
/// </summary>
internal sealed partial class EdgeProcess : IAsyncDisposable
{
    private EdgeProcess(WarrenProcess process, Match up)
    {
        Process = process;
        HttpPort = int.Parse(up.Groups["http"].Value, CultureInfo.InvariantCulture);
        AgentsPort = int.Parse(up.Groups["agents"].Value, CultureInfo.InvariantCulture);
        AdminPort = int.Parse(up.Groups["admin"].Value, CultureInfo.InvariantCulture);
        Fingerprint = up.Groups["fingerprint"].Value;
    }

    public WarrenProcess Process { get; }
    public int HttpPort { get; }
    public int AgentsPort { get; }
    public int AdminPort { get; }

    /// <summary>SHA-256 of the agent link certificate.</summary>
    public string Fingerprint { get; }

    /// <summary>
    /// Writes edge.yaml into <paramref name="dataDirectory"/> (with <paramref name="moreYaml"/>, top-level keys, at its
    /// end) and starts the edge; returns once it logged that it is up.
    /// </summary>
    public static async Task<EdgeProcess> StartAsync(TestLog log, string name, string dataDirectory, string token, string moreYaml = "") =>
        await StartAsync(log, name, await WriteConfigAsync(dataDirectory, token, moreYaml: moreYaml));

    /// <summary>
    /// Writes <c>{dataDirectory}/edge.yaml</c> and returns its path: loopback listeners (HTTP and agents on the given
    /// ports, 0 for any; HTTPS only when given; admin on any), one token named tests for <paramref name="allowHosts"/>,
    /// and <paramref name="moreYaml"/> (top-level keys) at its end.
    /// </summary>
    public static async Task<string> WriteConfigAsync(string dataDirectory, string token, string allowHosts = "*.test",
        int httpPort = 0, int? httpsPort = null, int agentsPort = 0, string moreYaml = "")
    {
        Directory.CreateDirectory(dataDirectory);
        var yaml = new StringBuilder()
            .AppendLine("listen:")
            .AppendLine(CultureInfo.InvariantCulture, $"  http: 127.0.0.1:{httpPort}")
            .Append(httpsPort is { } https ? string.Create(CultureInfo.InvariantCulture, $"  https: 127.0.0.1:{https}\n") : "")
            .AppendLine(CultureInfo.InvariantCulture, $"  agents: 127.0.0.1:{agentsPort}")
            .AppendLine("  admin: 127.0.0.1:0")
            .AppendLine(CultureInfo.InvariantCulture, $"data: {dataDirectory}")
            .AppendLine("tokens:")
            .AppendLine("  - name: tests")
            .AppendLine(CultureInfo.InvariantCulture, $"    token: {token}")
            .AppendLine(CultureInfo.InvariantCulture, $"    allow_hosts: [\"{allowHosts}\"]")
            .Append(moreYaml);
        var path = Path.Combine(dataDirectory, "edge.yaml");
        await File.WriteAllTextAsync(path, yaml.ToString());
        return path;
    }

    /// <summary>
    /// Starts <c>warren edge --config <paramref name="configPath"/></c> (loopback listeners on port 0), with
    /// <paramref name="environment"/>'s variables; returns once it logged that it is up.
    /// </summary>
    public static async Task<EdgeProcess> StartAsync(TestLog log, string name, string configPath, IReadOnlyDictionary<string, string>? environment = null)
    {
        var process = WarrenProcess.Start(log, name, ["edge", "--config", configPath], environment);
        try
        {
            await Wait.UntilAsync(() => process.HasExited || UpLine().IsMatch(process.StandardOutput), $"{name} logged that it is up", TimeSpan.FromSeconds(60));
            Assert.False(process.HasExited, $"{name} exited at start");
            return new EdgeProcess(process, UpLine().Match(process.StandardOutput));
        }
        catch
        {
            await process.DisposeAsync();
            throw;
        }
    }

    /// <summary>An agent configuration for this edge: TLS, its certificate pinned, the given services.</summary>
    public AgentConfig AgentConfig(string token, IReadOnlyList<ServiceConfig> services) => ConfigLoader.ValidateAgent(new AgentConfig
    {
        Edge = $"127.0.0.1:{AgentsPort}",
        Token = token,
        EdgeFingerprint = Fingerprint,
        Name = "test-agent",
        Services = services,
    });

    /// <summary>The edge's admin /api/status.</summary>
    public Task<EdgeStatus> StatusAsync() => EdgeStatus.ReadAsync(AdminPort);

    public HttpRequestMessage Request(HttpMethod method, string pathAndQuery, string host = WarrenHarness.AppHost)
    {
        var request = new HttpRequestMessage(method, $"http://127.0.0.1:{HttpPort}{pathAndQuery}");
        request.Headers.Host = host;
        return request;
    }

    public ValueTask DisposeAsync() => Process.DisposeAsync();

    /// <summary>EdgeCommand's "Edge up: http=… https=… agents=… admin=…; agent link certificate SHA-256 …" line.</summary>
    [GeneratedRegex(@"Edge up: http=(?<http>\d+) https=(?<https>\d+|off) agents=(?<agents>\d+) admin=(?<admin>\d+); agent link certificate SHA-256 (?<fingerprint>[0-9a-f]{64})")]
    private static partial Regex UpLine();
}
