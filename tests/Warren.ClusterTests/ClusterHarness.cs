using System.Net.Http;
using Microsoft.Extensions.Time.Testing;
using Warren.Agent;
using Warren.Configuration;
using Warren.Demo;
using Warren.Edge;
using Warren.Testing.Clients;

namespace Warren.ClusterTests;

/// <summary>
/// Several edges in this process sharing one real redis-server (docs/cluster.md), each with its own data folder and
/// loopback listeners on port 0, the same edge.yaml tokens (alpha and beta, both allowed *.test), and the sample
/// backend for agents to publish. Agents are in-process <see cref="WarrenAgent"/>s pinned to their edge's certificate.
/// Everything started here stops on <see cref="DisposeAsync"/>, Redis last.
/// </summary>
internal sealed class ClusterHarness : IAsyncDisposable
{
    public const string Secret = "cluster-test-secret-0123456789abcdef";
    private readonly TestLog _log;
    private readonly List<string> _folders = [];
    private readonly List<WarrenAgent> _agents = [];
    private readonly Dictionary<string, EdgeServer> _edges = new(StringComparer.Ordinal);

    private ClusterHarness(TestLog log, RedisServer redis, SampleHttpService backend) => (_log, Redis, Backend) = (log, redis, backend);

    public RedisServer Redis { get; }
    public SampleHttpService Backend { get; }
    public string AlphaToken { get; } = WarrenHarness.NewToken();
    public string BetaToken { get; } = WarrenHarness.NewToken();
    public HttpClient Client { get; } = TestClients.Create();

    public Uri BackendUri => new($"http://127.0.0.1:{Backend.Port}");

    public EdgeServer this[string name] => _edges[name];

    public static async Task<ClusterHarness> StartAsync(TestLog log, int redisPort)
    {
        var redis = await RedisServer.StartAsync(log, redisPort);
        return new ClusterHarness(log, redis, await SampleHttpService.StartAsync());
    }

    /// <summary>
    /// Starts edge <paramref name="name"/> of the cluster. <paramref name="frozenClock"/>: its clock never moves, so
    /// nothing it does on a timer (the token catch-up, lease renewal, heartbeats, the counts' sync) happens, only what
    /// pub/sub and the edge's own events cause. <paramref name="configure"/> changes the rest of its edge.yaml;
    /// <paramref name="secret"/> is its cluster secret (another one makes it no edge of this cluster); its TCP services
    /// listen on <paramref name="tcpAddress"/> (127.0.0.1 by default: edges in one process that serve one port need one each).
    /// </summary>
    public async Task<EdgeServer> StartEdgeAsync(string name, bool frozenClock = false, Func<EdgeConfig, EdgeConfig>? configure = null, string secret = Secret,
        System.Net.IPAddress? tcpAddress = null)
    {
        var folder = Directory.CreateTempSubdirectory("warren-cluster-" + name + "-").FullName;
        _folders.Add(folder);
        var config = WarrenHarness.LoopbackEdgeConfig(folder,
            [WarrenHarness.Grant("alpha", AlphaToken, ["*.test"]), WarrenHarness.Grant("beta", BetaToken, ["*.test"])],
            c => (configure ?? (x => x))(c with
            {
                Cluster = new ClusterConfig
                {
                    Redis = Redis.Configuration, Name = name, Secret = secret, Listen = "127.0.0.1:0", Lease = TimeSpan.FromSeconds(6),
                    SyncInterval = TimeSpan.FromMilliseconds(200),
                },
            }));
        var edge = await EdgeServer.StartAsync(config, _log.Factory, new EdgeServerOptions { Time = frozenClock ? new FakeTimeProvider(DateTimeOffset.UtcNow) : TimeProvider.System, TcpBindAddress = tcpAddress });
        _edges[name] = edge;
        _log.Note($"edge {name} up: http={edge.HttpPort} agents={edge.AgentsPort} admin={edge.AdminPort}");
        return edge;
    }

    /// <summary>Stops edge <paramref name="name"/> (it leaves the registry).</summary>
    public async Task StopEdgeAsync(string name)
    {
        if (_edges.Remove(name, out var edge))
        {
            await edge.DisposeAsync();
        }
    }

    /// <summary>An HTTP service of the sample backend on <paramref name="hostnames"/>.</summary>
    public ServiceConfig Http(string name, params string[] hostnames) => new() { Name = name, Hostnames = hostnames, Target = BackendUri };

    /// <summary>Starts an agent on edge <paramref name="edge"/> with <paramref name="token"/>; waits for its session when asked.</summary>
    public async Task<WarrenAgent> StartAgentAsync(string edge, string token, string name, IReadOnlyList<ServiceConfig> services, bool waitUntilReady = true)
    {
        var server = _edges[edge];
        var config = ConfigLoader.ValidateAgent(new AgentConfig
        {
            Edge = $"127.0.0.1:{server.AgentsPort}",
            Token = token,
            EdgeFingerprint = server.AgentCertificateFingerprint,
            Name = name,
            Services = services,
        });
        var agent = new WarrenAgent(config, _log.Factory);
        _agents.Add(agent);
        agent.Start();
        if (waitUntilReady)
        {
            await Wait.UntilAsync(() => agent.IsReady, $"agent {name} is connected to edge {edge} and its services are registered");
        }
        return agent;
    }

    /// <summary>
    /// Starts an agent attached to every one of <paramref name="edges"/> (agent.yaml <c>edges:</c>, each pinned to that
    /// edge's certificate) and waits until each of those edges has its session.
    /// </summary>
    public async Task<WarrenAgent> StartAgentOnEdgesAsync(string[] edges, string token, string name, IReadOnlyList<ServiceConfig> services)
    {
        var config = ConfigLoader.ValidateAgent(new AgentConfig
        {
            Edges = [.. edges.Select(e => new AgentEdgeConfig { Edge = $"127.0.0.1:{_edges[e].AgentsPort}", EdgeFingerprint = _edges[e].AgentCertificateFingerprint })],
            Token = token,
            Name = name,
            Services = services,
        });
        var agent = new WarrenAgent(config, _log.Factory);
        _agents.Add(agent);
        agent.Start();
        await Wait.UntilAsync(() => agent.ConnectedSessions == edges.Length, $"agent {name} has a session to each of {string.Join(", ", edges)}");
        return agent;
    }

    /// <summary>GET <paramref name="path"/> for <paramref name="host"/> through edge <paramref name="edge"/>'s public port.</summary>
    public async Task<HttpResponseMessage> GetAsync(string edge, string host, string path = "/echo")
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, $"http://127.0.0.1:{_edges[edge].HttpPort}{path}");
        request.Headers.Host = host;
        return await Client.SendAsync(request);
    }

    /// <summary>Waits until a GET for <paramref name="host"/> through <paramref name="edge"/> answers 200.</summary>
    public Task WaitUntilServedAsync(string edge, string host, TimeSpan? timeout = null) =>
        Wait.UntilAsync(async () =>
        {
            using var response = await GetAsync(edge, host);
            return response.StatusCode == System.Net.HttpStatusCode.OK;
        }, $"edge {edge} serves {host}", timeout);

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        foreach (var agent in _agents)
        {
            await agent.DisposeAsync();
        }
        foreach (var edge in _edges.Values)
        {
            await edge.DisposeAsync();
        }
        await Backend.DisposeAsync();
        await Redis.DisposeAsync();
        foreach (var folder in _folders)
        {
            LoggedTest.DeleteDirectory(folder);
        }
    }
}
