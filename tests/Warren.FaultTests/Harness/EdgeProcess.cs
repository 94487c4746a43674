using System.Diagnostics;
using System.Globalization;
using System.Net.Http;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Warren.Configuration;

namespace Warren.FaultTests.Harness;

/// <summary>A real <c>warren edge</c> process on loopback ports chosen up front, with one token for *.test.</summary>
internal sealed partial class EdgeProcess : IAsyncDisposable
{
    private EdgeProcess(WarrenProcess process, int httpPort, int agentsPort, int adminPort, string fingerprint)
    {
        Process = process;
        HttpPort = httpPort;
        AgentsPort = agentsPort;
        AdminPort = adminPort;
        Fingerprint = fingerprint;
    }

    public WarrenProcess Process { get; }
    public int HttpPort { get; }
    public int AgentsPort { get; }
    public int AdminPort { get; }

    /// <summary>SHA-256 of the agent link certificate, from the edge's first log line.</summary>
    public string Fingerprint { get; }

    /// <summary>Writes edge.yaml into <paramref name="dataDirectory"/> and starts the edge; returns once it logged that it is up.</summary>
    public static async Task<EdgeProcess> StartAsync(TestLog log, string name, string dataDirectory, string token)
    {
        var (http, agents, admin) = (Ports.Free(), Ports.Free(), Ports.Free());
        Directory.CreateDirectory(dataDirectory);
        var yaml = new StringBuilder()
            .AppendLine("listen:")
            .AppendLine(CultureInfo.InvariantCulture, $"  http: 127.0.0.1:{http}")
            .AppendLine(CultureInfo.InvariantCulture, $"  agents: 127.0.0.1:{agents}")
            .AppendLine(CultureInfo.InvariantCulture, $"  admin: 127.0.0.1:{admin}")
            .AppendLine(CultureInfo.InvariantCulture, $"data: {dataDirectory}")
            .AppendLine("tokens:")
            .AppendLine("  - name: tests")
            .AppendLine(CultureInfo.InvariantCulture, $"    token: {token}")
            .AppendLine("    allow_hosts: [\"*.test\"]");
        var path = Path.Combine(dataDirectory, "edge.yaml");
        await File.WriteAllTextAsync(path, yaml.ToString());
        var process = WarrenProcess.Start(log, name, "edge", "--config", path);
        try
        {
            await Wait.UntilAsync(() => process.HasExited || FingerprintLine().IsMatch(process.StandardOutput), $"{name} logged that it is up", TimeSpan.FromSeconds(60));
            Assert.False(process.HasExited, $"{name} exited at start");
            return new EdgeProcess(process, http, agents, admin, FingerprintLine().Match(process.StandardOutput).Groups[1].Value);
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

    /// <summary>Ids of the agent sessions the edge's /api/status lists.</summary>
    public Task<long[]> SessionIdsAsync() => EdgeStatusIds.SessionIdsAsync(AdminPort);

    public HttpRequestMessage Request(HttpMethod method, string pathAndQuery, string host = WarrenHarness.AppHost)
    {
        var request = new HttpRequestMessage(method, $"http://127.0.0.1:{HttpPort}{pathAndQuery}");
        request.Headers.Host = host;
        return request;
    }

    public ValueTask DisposeAsync() => Process.DisposeAsync();

    [GeneratedRegex("SHA-256 ([0-9a-f]{64})")]
    private static partial Regex FingerprintLine();
}

/// <summary>Signals for processes the test started (by their id).</summary>
internal static class Signals
{
    /// <summary>Sends SIGTERM, as systemd or <c>docker stop</c> would.</summary>
    public static async Task TerminateAsync(WarrenProcess process)
    {
        using var kill = System.Diagnostics.Process.Start(new ProcessStartInfo("kill", ["-TERM", process.Id.ToString(CultureInfo.InvariantCulture)]) { UseShellExecute = false })!;
        await kill.WaitForExitAsync();
        Assert.Equal(0, kill.ExitCode);
    }
}

/// <summary>Reads the edge's /api/status session ids (the harness's status parser does not carry them).</summary>
internal static class EdgeStatusIds
{
    private static readonly HttpClient Admin = new() { Timeout = TimeSpan.FromSeconds(30) };

    public static async Task<long[]> SessionIdsAsync(int adminPort)
    {
        using var document = JsonDocument.Parse(await Admin.GetStringAsync(new Uri($"http://127.0.0.1:{adminPort}/api/status")));
        return [.. document.RootElement.GetProperty("sessions").EnumerateArray().Select(s => s.GetProperty("id").GetInt64())];
    }
}
