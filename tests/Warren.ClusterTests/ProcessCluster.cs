using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http;
using System.Net.Http.Json;
using System.Text;
using Warren.Agent;
using Warren.Configuration;
using Warren.Demo;

namespace Warren.ClusterTests;

/// <summary>
/// A cluster of real <c>warren edge</c> processes (so one can be killed or signalled) sharing one redis-server, the
/// sample backend published as app.test by an in-process agent attached to some of them, and HAProxy in front of all
/// of them (Warren.Testing/Servers/HaproxyServer.cs). Everything stops on dispose, Redis last.
/// </summary>
internal sealed class ProcessCluster : IAsyncDisposable
{
    public const string Host = "app.test";
    private readonly TestLog _log;
    private readonly List<string> _folders = [];
    private readonly List<IAsyncDisposable> _owned = [];

    private ProcessCluster(TestLog log, RedisServer redis, SampleHttpService backend) => (_log, Redis, Backend) = (log, redis, backend);

    public RedisServer Redis { get; }
    public SampleHttpService Backend { get; }
    public string Token { get; } = WarrenHarness.NewToken();
    public Dictionary<string, EdgeProcess> Edges { get; } = new(StringComparer.Ordinal);
    public HaproxyServer? Haproxy { get; private set; }
    public HttpClient Client { get; } = Warren.Testing.Clients.TestClients.Create(timeout: TimeSpan.FromSeconds(30));

    /// <summary>Starts Redis, the backend and edges <paramref name="edges"/>, the agent on <paramref name="agentEdges"/>, and HAProxy in front of every edge.</summary>
    public static async Task<ProcessCluster> StartAsync(TestLog log, Func<int> reservePort, string[] edges, string[] agentEdges)
    {
        var cluster = new ProcessCluster(log, await RedisServer.StartAsync(log, reservePort()), await SampleHttpService.StartAsync());
        try
        {
            foreach (var name in edges)
            {
                cluster.Edges[name] = await cluster.StartEdgeAsync(name);
            }
            var agent = new WarrenAgent(ConfigLoader.ValidateAgent(new AgentConfig
            {
                Edges = [.. agentEdges.Select(e => new AgentEdgeConfig { Edge = $"127.0.0.1:{cluster.Edges[e].AgentsPort}", EdgeFingerprint = cluster.Edges[e].Fingerprint })],
                Token = cluster.Token,
                Name = "agent",
                Services = [new ServiceConfig { Name = "app", Hostnames = [Host], Target = new Uri($"http://127.0.0.1:{cluster.Backend.Port}") }],
            }), log.Factory);
            cluster._owned.Insert(0, agent);
            agent.Start();
            await Wait.UntilAsync(() => agent.ConnectedSessions == agentEdges.Length, "the agent has a session to each of its edges");
            // Every edge knows which edges hold app.test (its registry, as GET /api/cluster shows it) and serves it,
            // through its own session or another edge's.
            foreach (var name in edges)
            {
                await Wait.UntilAsync(async () =>
                {
                    var status = await cluster.Client.GetFromJsonAsync<System.Text.Json.JsonElement>($"http://127.0.0.1:{cluster.Edges[name].AdminPort}/api/cluster");
                    var holders = status.GetProperty("edges").EnumerateArray()
                        .Where(e => e.GetProperty("services").EnumerateArray().Any(s => s.GetString() == "tests/app"))
                        .Select(e => e.GetProperty("name").GetString()).ToHashSet();
                    return agentEdges.All(holders.Contains);
                }, $"edge {name} reads that {string.Join(" and ", agentEdges)} hold app.test");
                await Wait.UntilAsync(async () => (await cluster.GetAsync(cluster.Edges[name].HttpPort)).StatusCode == HttpStatusCode.OK, $"edge {name} serves {Host}");
            }
            cluster.Haproxy = HaproxyServer.Start(log, reservePort(), edges.ToDictionary(e => e, e => (cluster.Edges[e].HttpPort, cluster.Edges[e].AdminPort)));
            await Wait.UntilAsync(async () =>
            {
                try
                {
                    for (var i = 0; i < edges.Length * 2; i++)
                    {
                        if ((await cluster.GetAsync(cluster.Haproxy.Port)).StatusCode != HttpStatusCode.OK)
                        {
                            return false;
                        }
                    }
                    return true;
                }
                catch (HttpRequestException)
                {
                    return false; // not listening yet
                }
            }, "HAProxy serves app.test through every edge");
            return cluster;
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }
    }

    private async Task<EdgeProcess> StartEdgeAsync(string name)
    {
        var folder = Directory.CreateTempSubdirectory("warren-cluster-process-" + name + "-").FullName;
        _folders.Add(folder);
        var edge = await EdgeProcess.StartAsync(_log, "edge-" + name, folder, Token, new StringBuilder()
            .AppendLine("drain_timeout: 20s")
            .AppendLine("cluster:")
            .AppendLine(CultureInfo.InvariantCulture, $"  redis: {Redis.Configuration}")
            .AppendLine(CultureInfo.InvariantCulture, $"  name: {name}")
            .AppendLine(CultureInfo.InvariantCulture, $"  secret: {ClusterHarness.Secret}")
            .AppendLine("  listen: 127.0.0.1:0")
            .AppendLine("  lease: 6s")
            .ToString());
        _owned.Add(edge);
        return edge;
    }

    public async Task<HttpResponseMessage> GetAsync(int port, CancellationToken cancellationToken = default)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, $"http://127.0.0.1:{port}/echo");
        request.Headers.Host = Host;
        return await Client.SendAsync(request, cancellationToken);
    }

    /// <summary>Starts <paramref name="workers"/> clients sending GETs for app.test through HAProxy, one after another each, until stopped.</summary>
    public RequestLoop Loop(int workers) => new(this, workers);

    /// <summary>Clients sending GETs through HAProxy; every request's start and end (Stopwatch timestamps, for ordering only) and outcome.</summary>
    internal sealed class RequestLoop
    {
        private readonly CancellationTokenSource _stop = new();
        private readonly Task<Outcome[]> _running;
        private int _count;

        public RequestLoop(ProcessCluster cluster, int workers) =>
            _running = Task.WhenAll(Enumerable.Range(0, workers).Select(_ => Task.Run(() => RunAsync(cluster))))
                .ContinueWith(t => t.Result.SelectMany(o => o).ToArray(), TaskScheduler.Default);

        /// <summary>Requests answered (or failed) so far.</summary>
        public int Count => Volatile.Read(ref _count);

        private async Task<List<Outcome>> RunAsync(ProcessCluster cluster)
        {
            var outcomes = new List<Outcome>();
            while (!_stop.IsCancellationRequested)
            {
                var started = Stopwatch.GetTimestamp();
                string? error;
                try
                {
                    using var response = await cluster.GetAsync(cluster.Haproxy!.Port);
                    var body = await response.Content.ReadAsStringAsync();
                    error = response.StatusCode == HttpStatusCode.OK && body.Contains("Host: app.test", StringComparison.Ordinal) ? null : $"{(int)response.StatusCode} {body}";
                }
                catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or IOException)
                {
                    error = ex.Message;
                }
                outcomes.Add(new Outcome(started, Stopwatch.GetTimestamp(), error));
                Interlocked.Increment(ref _count);
            }
            return outcomes;
        }

        /// <summary>Stops the clients and returns every request's outcome.</summary>
        public async Task<Outcome[]> StopAsync()
        {
            await _stop.CancelAsync();
            var outcomes = await _running.WaitAsync(TimeSpan.FromSeconds(90));
            _stop.Dispose();
            return outcomes;
        }
    }

    internal sealed record Outcome(long Started, long Ended, string? Error);

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        if (Haproxy is not null)
        {
            await Haproxy.DisposeAsync();
        }
        foreach (var owned in _owned)
        {
            await owned.DisposeAsync();
        }
        await Backend.DisposeAsync();
        await Redis.DisposeAsync();
        foreach (var folder in _folders)
        {
            LoggedTest.DeleteDirectory(folder);
        }
    }
}
