using System.Net;
using System.Net.Http;
using System.Net.Sockets;
using System.Security.Cryptography;
using Warren.Agent;
using Warren.Demo;
using Warren.Configuration;
using Warren.Edge;
using Warren.Edge.Tokens;
using SessionOptions = Warren.Protocol.Session.SessionOptions;

namespace Warren.SecurityTests.Harness;

/// <summary>What a test changes about its edge.</summary>
internal sealed record TestEdgeOptions
{
    /// <summary>More tokens in edge.yaml besides the good agent's.</summary>
    public IReadOnlyList<EdgeTokenConfig> ExtraTokens { get; init; } = [];

    /// <summary>Runs against the edge's token store before the edge starts (warren token create does the same).</summary>
    public Action<TokenStore>? Store { get; init; }

    public EdgeLimitsConfig Limits { get; init; } = new();

    /// <summary>The multiplexer handshake limit on the agents listener.</summary>
    public TimeSpan HandshakeTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>How long an agent has to authenticate once its session is up.</summary>
    public TimeSpan AuthTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Any other change to edge.yaml (admin_token, trusted_proxies, listen.admin), applied before validation.</summary>
    public Func<EdgeConfig, EdgeConfig>? Configure { get; init; }
}

/// <summary>
/// One edge for one test, on loopback with OS-chosen ports and its own data directory, with the sample backend
/// and a legitimate agent ("good", token granted <see cref="GoodHost"/>) already serving it through a pinned TLS
/// link, exactly as production wires them.
/// </summary>
internal sealed class TestEdge : IAsyncDisposable
{
    public const string GoodHost = "good.test";
    public const string GoodTokenName = "good";

    private readonly List<IAsyncDisposable> _owned = [];

    private TestEdge(TestLog log, string dataDirectory, string goodToken)
    {
        Log = log;
        DataDirectory = dataDirectory;
        GoodToken = goodToken;
        Client = new HttpClient(new SocketsHttpHandler
        {
            UseProxy = false,
            AllowAutoRedirect = false,
            UseCookies = false,
            ConnectCallback = ConnectWithSmallBufferAsync,
        })
        {
            Timeout = TimeSpan.FromSeconds(30),
        };
    }

    /// <summary>
    /// A fixed 32 KiB receive buffer (no autotuning), so a client that reads slowly holds the response back through
    /// the edge and the tunnel instead of the kernel soaking up megabytes: the transfer stays in flight end to end.
    /// </summary>
    private static async ValueTask<Stream> ConnectWithSmallBufferAsync(SocketsHttpConnectionContext context, CancellationToken cancellationToken)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true, ReceiveBufferSize = 32 * 1024 };
        try
        {
            await socket.ConnectAsync(context.DnsEndPoint, cancellationToken);
            return new NetworkStream(socket, ownsSocket: true);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    public TestLog Log { get; }
    public string DataDirectory { get; }
    public string GoodToken { get; }
    public EdgeServer Server { get; private set; } = null!;
    public SampleHttpService Backend { get; private set; } = null!;
    public WarrenAgent GoodAgent { get; private set; } = null!;
    public HttpClient Client { get; }

    public int HttpPort => Server.HttpPort!.Value;
    public string Fingerprint => Server.AgentCertificateFingerprint!;

    public static string NewToken() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));

    public static string NewDataDirectory() => Path.Combine(Path.GetTempPath(), "warren-sec-" + Guid.NewGuid().ToString("n")[..12]);

    public static EdgeConfig Config(string dataDirectory, IEnumerable<EdgeTokenConfig> tokens, EdgeLimitsConfig? limits = null, Func<EdgeConfig, EdgeConfig>? configure = null)
    {
        var config = new EdgeConfig
        {
            Listen = new ListenConfig { Http = "127.0.0.1:0", Https = null, Agents = "127.0.0.1:0", Admin = "127.0.0.1:0" },
            DataDirectory = dataDirectory,
            Tokens = [.. tokens],
            Limits = limits ?? new EdgeLimitsConfig(),
        };
        return ConfigLoader.ValidateEdge(configure?.Invoke(config) ?? config);
    }

    public static async Task<TestEdge> StartAsync(TestLog log, TestEdgeOptions? options = null)
    {
        options ??= new TestEdgeOptions();
        var edge = new TestEdge(log, NewDataDirectory(), NewToken());
        try
        {
            await edge.StartCoreAsync(options);
        }
        catch
        {
            await edge.DisposeAsync();
            throw;
        }
        return edge;
    }

    private async Task StartCoreAsync(TestEdgeOptions options)
    {
        if (options.Store is { } seed)
        {
            using var store = new TokenStore(DataDirectory);
            seed(store);
        }
        Backend = await SampleHttpService.StartAsync();
        _owned.Add(Backend);
        var config = Config(DataDirectory,
            [new EdgeTokenConfig { Name = GoodTokenName, Token = GoodToken, AllowHosts = [GoodHost] }, .. options.ExtraTokens],
            options.Limits, options.Configure);
        AdminToken = config.AdminToken;
        Server = await EdgeServer.StartAsync(config, Log.Factory, new EdgeServerOptions
        {
            TcpBindAddress = IPAddress.Loopback,
            Session = new SessionOptions { HandshakeTimeout = options.HandshakeTimeout },
            AuthTimeout = options.AuthTimeout,
        });
        _owned.Add(Server);
        GoodAgent = await StartAgentAsync(GoodToken, "good-agent", [HttpService("web", GoodHost)]);
        await Wait.UntilAsync(() => GoodAgent.IsReady, "the good agent to register", Wait.DefaultTimeout);
    }

    /// <summary>An HTTP service of the sample backend, published on <paramref name="hostnames"/>.</summary>
    public ServiceConfig HttpService(string name, params string[] hostnames) =>
        new() { Name = name, Hostnames = hostnames, Target = new Uri($"http://127.0.0.1:{Backend.Port}") };

    /// <summary>
    /// Starts a real agent (pinned to this edge unless <paramref name="fingerprint"/> says otherwise) and waits
    /// for its first session when <paramref name="waitForSession"/>. Disposed with the edge.
    /// </summary>
    public async Task<WarrenAgent> StartAgentAsync(string token, string name, IReadOnlyList<ServiceConfig> services, string? fingerprint = null, bool waitForSession = true,
        Func<AgentConfig, AgentConfig>? configure = null)
    {
        var config = new AgentConfig
        {
            Edge = $"127.0.0.1:{Server.AgentsPort}",
            Token = token,
            EdgeFingerprint = fingerprint ?? Fingerprint,
            Name = name,
            Services = services,
        };
        config = ConfigLoader.ValidateAgent(configure?.Invoke(config) ?? config);
        var agent = new WarrenAgent(config, Log.Factory);
        _owned.Add(new AsyncDisposable(() => agent.StopAsync(TimeSpan.FromMilliseconds(200))));
        agent.Start();
        if (waitForSession)
        {
            await Wait.UntilAsync(() => agent.ConnectedSessions > 0, $"agent {name} to connect and register", Wait.DefaultTimeout);
        }
        return agent;
    }

    public Task<RawAgent> ConnectRawAsync() => RawAgent.ConnectAsync(Server.AgentsPort, Fingerprint, Log.Factory.CreateLogger("raw-agent"));

    public Uri Url(string path) => new($"http://127.0.0.1:{HttpPort}{path}");

    /// <summary>An agent for <paramref name="services"/> under a token of its own that grants <paramref name="hosts"/> and <paramref name="ports"/>.</summary>
    public static EdgeTokenConfig Grant(string name, string token, IReadOnlyList<string> hosts, IReadOnlyList<int>? ports = null) =>
        new() { Name = name, Token = token, AllowHosts = hosts, AllowPorts = ports ?? [] };

    /// <summary>The value of one sample of the edge's /metrics (0 when absent), e.g. ("warren_service_errors_total", "service=\"ws\"", "kind=\"timeout\"").</summary>
    public async Task<double> MetricAsync(string name, params string[] labels)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, $"http://127.0.0.1:{Server.AdminPort}/metrics");
        if (AdminToken is { } token)
        {
            request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
        }
        using var response = await Client.SendAsync(request);
        response.EnsureSuccessStatusCode();
        var line = (await response.Content.ReadAsStringAsync()).Split('\n')
            .FirstOrDefault(l => l.StartsWith(name + "{", StringComparison.Ordinal) && labels.All(label => l.Contains(label, StringComparison.Ordinal)));
        return line is null ? 0 : double.Parse(line[(line.LastIndexOf(' ') + 1)..], System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>The edge's admin_token, when the test set one.</summary>
    public string? AdminToken { get; private set; }

    public async Task<(HttpStatusCode Status, string Body)> GetAsync(string host, string path, Action<HttpRequestMessage>? configure = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, Url(path));
        request.Headers.Host = host;
        configure?.Invoke(request);
        using var response = await Client.SendAsync(request);
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    /// <summary>Starts the legitimate transfer (5 MiB from the good agent's service) that runs during the attack.</summary>
    public Task<PacedDownload> StartTransferAsync(long size = 5 * 1024 * 1024) =>
        PacedDownload.StartAsync(Client, Url($"/bytes/{size}"), GoodHost, size);

    /// <summary>After the attack: the edge still serves a fresh request for the good agent, intact.</summary>
    public async Task AssertStillServesAsync()
    {
        var (status, body) = await GetAsync(GoodHost, "/bytes/100000");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(100_000, body.Length);
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        for (var i = _owned.Count - 1; i >= 0; i--)
        {
            try
            {
                await _owned[i].DisposeAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(10));
            }
            catch (Exception ex)
            {
                Log.Note($"cleanup: {ex.GetType().Name}: {ex.Message}");
            }
        }
        try
        {
            Directory.Delete(DataDirectory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
