using System.Globalization;
using System.Net;
using System.Net.Http;
using System.Security.Cryptography;
using System.Text.Json;
using Warren.Agent;
using Warren.Demo;
using Warren.Configuration;
using Warren.Edge;

namespace Warren.Tests.Common;

/// <summary>What a test wants from its tunnel; the defaults publish the sample backend as <see cref="WarrenHarness.AppHost"/>.</summary>
internal sealed class HarnessOptions
{
    /// <summary>The agent's services; null publishes the sample HTTP backend as app.test.</summary>
    public Func<WarrenHarness, IReadOnlyList<ServiceConfig>>? Services { get; init; }

    /// <summary>What the agent's token may publish.</summary>
    public IReadOnlyList<string> AllowHosts { get; init; } = ["*.test"];

    public IReadOnlyList<int> AllowPorts { get; init; } = [];

    /// <summary>False: the test starts an agent itself (another configuration, or a separate process).</summary>
    public bool StartAgent { get; init; } = true;

    /// <summary>The edge's agent listener port; 0 lets the OS choose (a restarted edge needs a fixed one).</summary>
    public int AgentsPort { get; init; }

    /// <summary>The edge's public HTTPS listener ("host:port", 0 lets the OS choose); null: no HTTPS listener.</summary>
    public string? HttpsListen { get; init; }

    /// <summary>The edge's session keepalive (edge.yaml <c>session</c>); the in-process agent takes the same.</summary>
    public SessionConfig Session { get; init; } = new();

    /// <summary>The edge's public certificates (PEM files that must exist), chosen by SNI on the HTTPS listener.</summary>
    public IReadOnlyList<CertificateConfig> Certificates { get; init; } = [];
}

/// <summary>
/// One tunnel on loopback, wired as in production: the sample HTTP backend and a TCP echo server, an edge with
/// its own data directory (so its own self-signed agent certificate), and an in-process agent that dials it over
/// TLS with the certificate's fingerprint pinned. Every part logs into the test's <see cref="TestLog"/>.
/// </summary>
internal sealed class WarrenHarness : IAsyncDisposable
{
    public const string AppHost = "app.test";

    private readonly HarnessOptions _options;
    private readonly HttpClient _admin = new() { Timeout = TimeSpan.FromSeconds(30) };
    private bool _edgeRunning;

    private WarrenHarness(TestLog log, HarnessOptions options, SampleHttpService backend, TcpEchoService tcpEcho)
    {
        Log = log;
        _options = options;
        Backend = backend;
        TcpEcho = tcpEcho;
        DataDirectory = Path.Combine(Path.GetTempPath(), "warren-ft-" + Guid.NewGuid().ToString("N"));
        Token = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));
        Client = CreateClient();
    }

    public TestLog Log { get; }
    public SampleHttpService Backend { get; }
    public TcpEchoService TcpEcho { get; }
    public EdgeServer Edge { get; private set; } = null!;
    public WarrenAgent? Agent { get; private set; }
    public string DataDirectory { get; }
    public string Token { get; }

    /// <summary>A client for the edge's public HTTP port (send with <see cref="Request"/> so the Host header names a service).</summary>
    public HttpClient Client { get; }

    public Uri BackendUri => new($"http://127.0.0.1:{Backend.Port}");

    public static async Task<WarrenHarness> StartAsync(TestLog log, HarnessOptions? options = null)
    {
        options ??= new HarnessOptions();
        var backend = await SampleHttpService.StartAsync();
        var harness = new WarrenHarness(log, options, backend, new TcpEchoService());
        try
        {
            await harness.StartEdgeAsync();
            if (options.StartAgent)
            {
                await harness.StartAgentAsync();
            }
        }
        catch
        {
            await harness.DisposeAsync();
            throw;
        }
        return harness;
    }

    public EdgeConfig EdgeConfig => ConfigLoader.ValidateEdge(new EdgeConfig
    {
        Listen = new ListenConfig { Http = "127.0.0.1:0", Https = _options.HttpsListen, Agents = $"127.0.0.1:{_options.AgentsPort}", Admin = "127.0.0.1:0" },
        Certificates = _options.Certificates,
        DataDirectory = DataDirectory,
        Tokens = [new EdgeTokenConfig { Name = "tests", Token = Token, AllowHosts = _options.AllowHosts, AllowPorts = _options.AllowPorts }],
        Session = _options.Session,
    });

    /// <summary>Starts an edge (the first, or a new one after <see cref="StopEdgeAsync"/>) with the same configuration and data directory.</summary>
    public async Task StartEdgeAsync()
    {
        Edge = await EdgeServer.StartAsync(EdgeConfig, Log.Factory, new EdgeServerOptions { TcpBindAddress = IPAddress.Loopback });
        _edgeRunning = true;
        Log.Note($"edge up: http={Edge.HttpPort} https={Edge.HttpsPort} agents={Edge.AgentsPort} admin={Edge.AdminPort}");
    }

    public async Task StopEdgeAsync()
    {
        Log.Note("stopping the edge");
        _edgeRunning = false;
        await Edge.DisposeAsync();
    }

    /// <summary>The agent configuration the harness uses: TLS to this edge, fingerprint pinned, the test's services.</summary>
    public AgentConfig AgentConfig(IReadOnlyList<ServiceConfig>? services = null) => ConfigLoader.ValidateAgent(new AgentConfig
    {
        Edge = $"127.0.0.1:{Edge.AgentsPort}",
        Token = Token,
        EdgeFingerprint = Edge.AgentCertificateFingerprint ?? throw new InvalidOperationException("the edge has no agent certificate"),
        Name = "test-agent",
        Services = services ?? _options.Services?.Invoke(this) ?? [HttpService("app", AppHost)],
        Session = _options.Session,
    });

    /// <summary>An HTTP service published as <paramref name="hostname"/>, by default pointing at the sample backend.</summary>
    public ServiceConfig HttpService(string name, string hostname, Uri? target = null) =>
        new() { Name = name, Hostnames = [hostname], Target = target ?? BackendUri };

    /// <summary>
    /// Writes agent.yaml for a separate agent process (same edge, token, pinned fingerprint and services as
    /// <see cref="AgentConfig"/>) into the data directory; returns its path.
    /// </summary>
    public string WriteAgentYaml(string fileName = "agent.yaml")
    {
        var config = AgentConfig();
        var yaml = new System.Text.StringBuilder();
        yaml.AppendLine(CultureInfo.InvariantCulture, $"edge: {config.Edge}");
        yaml.AppendLine(CultureInfo.InvariantCulture, $"token: {config.Token}");
        yaml.AppendLine(CultureInfo.InvariantCulture, $"edge_fingerprint: {config.EdgeFingerprint}");
        yaml.AppendLine("name: process-agent");
        yaml.AppendLine("services:");
        foreach (var service in config.Services)
        {
            yaml.AppendLine(CultureInfo.InvariantCulture, $"  - name: {service.Name}");
            if (service.Hostnames.Count > 0)
            {
                yaml.AppendLine(CultureInfo.InvariantCulture, $"    hostnames: [{string.Join(", ", service.Hostnames.Select(h => $"\"{h}\""))}]");
            }
            if (service.Port is { } port)
            {
                yaml.AppendLine(CultureInfo.InvariantCulture, $"    port: {port}");
            }
            yaml.AppendLine(CultureInfo.InvariantCulture, $"    target: {service.Target.GetLeftPart(UriPartial.Authority)}");
        }
        if (config.Session != new SessionConfig())
        {
            yaml.AppendLine("session:");
            yaml.AppendLine(CultureInfo.InvariantCulture, $"  keepalive_interval: {config.Session.KeepaliveInterval.TotalMilliseconds}ms");
            yaml.AppendLine(CultureInfo.InvariantCulture, $"  keepalive_timeout: {config.Session.KeepaliveTimeout.TotalMilliseconds}ms");
        }
        Directory.CreateDirectory(DataDirectory);
        var path = Path.Combine(DataDirectory, fileName);
        File.WriteAllText(path, yaml.ToString());
        return path;
    }

    /// <summary>Starts the in-process agent and waits until every service is registered.</summary>
    public async Task StartAgentAsync(IReadOnlyList<ServiceConfig>? services = null)
    {
        var agent = new WarrenAgent(AgentConfig(services), Log.Factory);
        Agent = agent;
        agent.Start();
        await Wait.UntilAsync(() => agent.IsReady, "the agent is connected and its services are registered");
        Log.Note("agent ready");
    }

    public async Task StopAgentAsync()
    {
        if (Agent is { } agent)
        {
            Log.Note("stopping the agent");
            Agent = null;
            await agent.DisposeAsync();
        }
    }

    /// <summary>A request to the edge's public HTTP port for <paramref name="host"/>.</summary>
    public HttpRequestMessage Request(HttpMethod method, string pathAndQuery, string host = AppHost)
    {
        var request = new HttpRequestMessage(method, $"http://127.0.0.1:{Edge.HttpPort}{pathAndQuery}");
        request.Headers.Host = host;
        return request;
    }

    public async Task<HttpResponseMessage> GetAsync(string pathAndQuery, string host = AppHost, CancellationToken cancellationToken = default)
    {
        using var request = Request(HttpMethod.Get, pathAndQuery, host);
        return await Client.SendAsync(request, cancellationToken);
    }

    /// <summary>The edge's admin /api/status.</summary>
    public async Task<EdgeStatus> StatusAsync()
    {
        var json = await _admin.GetStringAsync(new Uri($"http://127.0.0.1:{Edge.AdminPort}/api/status"));
        using var document = JsonDocument.Parse(json);
        var root = document.RootElement;
        var sessions = root.GetProperty("sessions").EnumerateArray()
            .Select(s => new EdgeStatus.Session(s.GetProperty("agent").GetString()!, [.. s.GetProperty("services").EnumerateArray().Select(x => x.GetString()!)]))
            .ToArray();
        var services = root.GetProperty("services").EnumerateArray()
            .Select(s => new EdgeStatus.Service(s.GetProperty("name").GetString()!, s.GetProperty("sessions").GetInt32()))
            .ToArray();
        return new EdgeStatus(sessions, services);
    }

    /// <summary>Waits until the edge's status shows a session serving <paramref name="service"/> (for agents the test cannot ask directly).</summary>
    public Task WaitUntilServedAsync(string service, TimeSpan? timeout = null) =>
        Wait.UntilAsync(async () => (await StatusAsync()).Sessions.Any(s => s.Services.Contains(service)), $"the edge's status shows a session serving {service}", timeout);

    public Task WaitUntilNoSessionAsync(TimeSpan? timeout = null) =>
        Wait.UntilAsync(async () => (await StatusAsync()).Sessions.Length == 0, "the edge's status shows no agent session", timeout);

    public static HttpClient CreateClient(int maxConnections = 2048) => new(new SocketsHttpHandler
    {
        UseProxy = false,
        AllowAutoRedirect = false,
        UseCookies = false,
        AutomaticDecompression = DecompressionMethods.None,
        MaxConnectionsPerServer = maxConnections,
        PooledConnectionIdleTimeout = TimeSpan.FromSeconds(30),
    })
    {
        Timeout = TimeSpan.FromSeconds(60),
    };

    public async ValueTask DisposeAsync()
    {
        try
        {
            Client.Dispose();
            _admin.Dispose();
            await StopAgentAsync();
            if (_edgeRunning)
            {
                _edgeRunning = false;
                await Edge.DisposeAsync();
            }
            await TcpEcho.DisposeAsync();
            await Backend.DisposeAsync();
        }
        finally
        {
            try
            {
                Directory.Delete(DataDirectory, recursive: true);
            }
            catch (IOException)
            {
            }
            catch (UnauthorizedAccessException)
            {
            }
        }
    }
}

/// <summary>The parts of the edge's /api/status the tests look at.</summary>
internal sealed record EdgeStatus(EdgeStatus.Session[] Sessions, EdgeStatus.Service[] Services)
{
    public sealed record Session(string Agent, string[] Services);

    public sealed record Service(string Name, int Sessions);
}
