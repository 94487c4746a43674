using System.Globalization;
using System.Net;
using System.Net.Http;
using System.Security.Cryptography;
using System.Text;
using Warren.Agent;
using Warren.Configuration;
using Warren.Demo;
using Warren.Edge;
using Warren.Edge.Tokens;
using Warren.Testing.Clients;
using Warren.Testing.Logging;

namespace Warren.Testing.Hosting;

/// <summary>
/// One tunnel on loopback, wired as in production: the sample HTTP backend and a TCP echo server, an edge in this
/// process with its own data directory (so its own self-signed agent certificate) and every listener bound to port
/// 0, and an in-process agent that dials it over TLS with the certificate's fingerprint pinned. More agents, in
/// this process or as <c>warren agent</c> processes (<see cref="WriteAgentYaml"/>), can join. Every part logs into
/// the test's <see cref="TestLog"/>; everything started here stops on <see cref="DisposeAsync"/>.
/// </summary>
internal sealed class WarrenHarness : IAsyncDisposable
{
    public const string AppHost = "app.test";

    private readonly HarnessOptions _options;
    private readonly List<WarrenAgent> _extraAgents = [];
    private bool _edgeRunning;
    private int _agentsPort;

    private WarrenHarness(TestLog log, HarnessOptions options, SampleHttpService backend, TcpEchoService tcpEcho)
    {
        Log = log;
        _options = options;
        _agentsPort = options.AgentsPort;
        Backend = backend;
        TcpEcho = tcpEcho;
        DataDirectory = Path.Combine(Path.GetTempPath(), "warren-test-" + Guid.NewGuid().ToString("N"));
        Token = NewToken();
        Client = TestClients.Create();
    }

    public TestLog Log { get; }
    public SampleHttpService Backend { get; }
    public TcpEchoService TcpEcho { get; }
    public EdgeServer Edge { get; private set; } = null!;

    /// <summary>The in-process agent the harness started (null before, after <see cref="StopAgentAsync"/>, or with <see cref="HarnessOptions.StartAgent"/> false).</summary>
    public WarrenAgent? Agent { get; private set; }

    public string DataDirectory { get; }

    /// <summary>The agent's token secret (named <see cref="HarnessOptions.TokenName"/> in edge.yaml).</summary>
    public string Token { get; }

    /// <summary>The edge's public HTTP port.</summary>
    public int HttpPort => Edge.HttpPort ?? throw new InvalidOperationException("the edge has no HTTP listener");

    /// <summary>SHA-256 of the edge's agent link certificate, what agents pin.</summary>
    public string Fingerprint => Edge.AgentCertificateFingerprint ?? throw new InvalidOperationException("the edge has no agent certificate");

    /// <summary>The edge's admin_token, when the test set one.</summary>
    public string? AdminToken { get; private set; }

    /// <summary>A client for the edge's ports (send with <see cref="Request"/> so the Host header names a service).</summary>
    public HttpClient Client { get; }

    public Uri BackendUri => new($"http://127.0.0.1:{Backend.Port}");

    public static string NewToken() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));

    public static async Task<WarrenHarness> StartAsync(TestLog log, HarnessOptions? options = null)
    {
        options ??= new HarnessOptions();
        var backend = await SampleHttpService.StartAsync();
        var harness = new WarrenHarness(log, options, backend, new TcpEchoService());
        try
        {
            if (options.Store is { } seed)
            {
                Directory.CreateDirectory(harness.DataDirectory);
                using var store = new TokenStore(harness.DataDirectory);
                seed(store);
            }
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

    /// <summary>edge.yaml as the harness starts it: loopback listeners on port 0 (the agents port kept across restarts), the test's tokens.</summary>
    public EdgeConfig EdgeConfig => LoopbackEdgeConfig(
        DataDirectory,
        [Grant(_options.TokenName, Token, _options.AllowHosts, _options.AllowPorts), .. _options.ExtraTokens],
        config => (_options.ConfigureEdge ?? (c => c))(config with
        {
            Listen = config.Listen with { Https = _options.HttpsListen, Agents = $"127.0.0.1:{_agentsPort}" },
            Certificates = _options.Certificates,
            Session = _options.Session,
            Limits = _options.Limits,
        }));

    /// <summary>
    /// A validated edge.yaml with HTTP, agents and admin listeners on 127.0.0.1 port 0, TCP services on 127.0.0.1, no HTTPS, the given data
    /// directory and tokens; <paramref name="configure"/> changes anything else before validation.
    /// </summary>
    public static EdgeConfig LoopbackEdgeConfig(string dataDirectory, IEnumerable<EdgeTokenConfig> tokens, Func<EdgeConfig, EdgeConfig>? configure = null)
    {
        var config = new EdgeConfig
        {
            Listen = new ListenConfig { Http = "127.0.0.1:0", Https = null, Agents = "127.0.0.1:0", Admin = "127.0.0.1:0", TcpAddress = "127.0.0.1" },
            DataDirectory = dataDirectory,
            Tokens = [.. tokens],
        };
        return ConfigLoader.ValidateEdge(configure?.Invoke(config) ?? config);
    }

    /// <summary>A token in edge.yaml named <paramref name="name"/> that grants <paramref name="hosts"/> and <paramref name="ports"/>.</summary>
    public static EdgeTokenConfig Grant(string name, string token, IReadOnlyList<string> hosts, IReadOnlyList<int>? ports = null) =>
        new() { Name = name, Token = token, AllowHosts = hosts, AllowPorts = ports ?? [] };

    /// <summary>
    /// Starts an edge (the first, or a new one after <see cref="StopEdgeAsync"/>) with the same configuration and
    /// data directory; a restarted edge listens for agents on the port the first one was given.
    /// </summary>
    public async Task StartEdgeAsync()
    {
        var config = EdgeConfig;
        var defaults = new EdgeServerOptions();
        Edge = await EdgeServer.StartAsync(config, Log.Factory, new EdgeServerOptions
        {
            Session = _options.EdgeSession ?? defaults.Session,
            AuthTimeout = _options.AuthTimeout ?? defaults.AuthTimeout,
            Time = _options.Time ?? defaults.Time,
        });
        _edgeRunning = true;
        _agentsPort = Edge.AgentsPort;
        AdminToken = config.AdminToken;
        Log.Note($"edge up: http={Edge.HttpPort} https={Edge.HttpsPort} agents={Edge.AgentsPort} admin={Edge.AdminPort}");
    }

    public async Task StopEdgeAsync()
    {
        Log.Note("stopping the edge");
        _edgeRunning = false;
        await Edge.DisposeAsync();
    }

    /// <summary>The agent configuration the harness uses: TLS to this edge, fingerprint pinned, the test's services.</summary>
    public AgentConfig AgentConfig(IReadOnlyList<ServiceConfig>? services = null)
    {
        var config = new AgentConfig
        {
            Edge = $"127.0.0.1:{Edge.AgentsPort}",
            Token = Token,
            EdgeFingerprint = Fingerprint,
            Name = _options.AgentName,
            Services = services ?? _options.Services?.Invoke(this) ?? [HttpService("app", AppHost)],
            Session = _options.Session,
        };
        return ConfigLoader.ValidateAgent(_options.ConfigureAgent?.Invoke(config) ?? config);
    }

    /// <summary>An HTTP service of the sample backend, published on <paramref name="hostnames"/>.</summary>
    public ServiceConfig HttpService(string name, params string[] hostnames) => HttpService(name, hostnames, BackendUri);

    /// <summary>An HTTP service published as <paramref name="hostname"/> that points at <paramref name="target"/>.</summary>
    public ServiceConfig HttpService(string name, string hostname, Uri target) => HttpService(name, [hostname], target);

    private static ServiceConfig HttpService(string name, string[] hostnames, Uri target) => new() { Name = name, Hostnames = hostnames, Target = target };

    /// <summary>
    /// Writes agent.yaml for a separate agent process (same edge, token, pinned fingerprint and services as
    /// <see cref="AgentConfig"/>) into the data directory; returns its path.
    /// </summary>
    public string WriteAgentYaml(string fileName = "agent.yaml")
    {
        var config = AgentConfig();
        var yaml = new StringBuilder();
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

    /// <summary>
    /// Starts another in-process agent with <paramref name="token"/> (pinned to this edge unless
    /// <paramref name="fingerprint"/> says otherwise) and waits for its first session when
    /// <paramref name="waitForSession"/>. Stopped with the harness.
    /// </summary>
    public async Task<WarrenAgent> StartOtherAgentAsync(string token, string name, IReadOnlyList<ServiceConfig> services, string? fingerprint = null,
        bool waitForSession = true, Func<AgentConfig, AgentConfig>? configure = null)
    {
        var config = new AgentConfig
        {
            Edge = $"127.0.0.1:{Edge.AgentsPort}",
            Token = token,
            EdgeFingerprint = fingerprint ?? Fingerprint,
            Name = name,
            Services = services,
        };
        var agent = new WarrenAgent(ConfigLoader.ValidateAgent(configure?.Invoke(config) ?? config), Log.Factory);
        lock (_extraAgents)
        {
            _extraAgents.Add(agent);
        }
        agent.Start();
        if (waitForSession)
        {
            await Wait.UntilAsync(() => agent.ConnectedSessions > 0, $"agent {name} to connect and register");
        }
        return agent;
    }

    /// <summary>A request to the edge's public HTTP port for <paramref name="host"/>.</summary>
    public HttpRequestMessage Request(HttpMethod method, string pathAndQuery, string host = AppHost)
    {
        var request = new HttpRequestMessage(method, Url(pathAndQuery));
        request.Headers.Host = host;
        return request;
    }

    /// <summary>The edge's public HTTP port with <paramref name="pathAndQuery"/>.</summary>
    public Uri Url(string pathAndQuery) => new($"http://127.0.0.1:{Edge.HttpPort}{pathAndQuery}");

    public async Task<HttpResponseMessage> GetAsync(string pathAndQuery, string host = AppHost, CancellationToken cancellationToken = default)
    {
        using var request = Request(HttpMethod.Get, pathAndQuery, host);
        return await Client.SendAsync(request, cancellationToken);
    }

    /// <summary>The edge's admin /api/status.</summary>
    public Task<EdgeStatus> StatusAsync() => EdgeStatus.ReadAsync(Edge.AdminPort);

    /// <summary>
    /// Waits until the edge's status shows a session serving <paramref name="service"/> (for agents the test cannot ask
    /// directly), and every TCP service with a session listens: its port opens just after the registration shows in
    /// the status (Tcp/TcpServiceHost.cs follows the route table), and a client a moment early would be refused.
    /// </summary>
    public Task WaitUntilServedAsync(string service, TimeSpan? timeout = null) =>
        Wait.UntilAsync(async () => (await StatusAsync()).Sessions.Any(s => s.Services.Contains(service)) && TcpServicesListen(),
            $"the edge's status shows a session serving {service}, and its TCP ports listen", timeout);

    private bool TcpServicesListen()
    {
        var listening = Edge.TcpPorts;
        return Edge.State.Routes.RoutedServices.All(s => s.Sessions.IsEmpty || s.Registration.Port is not { } port || listening.Contains(port));
    }

    public Task WaitUntilNoSessionAsync(TimeSpan? timeout = null) =>
        Wait.UntilAsync(async () => (await StatusAsync()).Sessions.Length == 0, "the edge's status shows no agent session", timeout);

    /// <summary>The edge's /metrics text (with the admin token when one is set).</summary>
    public async Task<string> MetricsTextAsync()
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, $"http://127.0.0.1:{Edge.AdminPort}/metrics");
        if (AdminToken is { } token)
        {
            request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
        }
        using var response = await Client.SendAsync(request);
        response.EnsureSuccessStatusCode();
        return await response.Content.ReadAsStringAsync();
    }

    /// <summary>The value of one sample of the edge's /metrics (0 when absent), e.g. ("warren_service_errors_total", "service=\"ws\"", "kind=\"timeout\"").</summary>
    public async Task<double> MetricAsync(string name, params string[] labels)
    {
        var line = (await MetricsTextAsync()).Split('\n')
            .FirstOrDefault(l => (l.StartsWith(name + "{", StringComparison.Ordinal) || l.StartsWith(name + " ", StringComparison.Ordinal))
                && labels.All(label => l.Contains(label, StringComparison.Ordinal)));
        return line is null ? 0 : double.Parse(line[(line.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture);
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            Client.Dispose();
            WarrenAgent[] others;
            lock (_extraAgents)
            {
                others = [.. _extraAgents];
            }
            foreach (var other in others)
            {
                await other.DisposeAsync();
            }
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
            LoggedTest.DeleteDirectory(DataDirectory);
        }
    }
}
