using System.Collections.Concurrent;
using System.Net;
using System.Net.Http;
using System.Net.Sockets;
using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using Warren.Agent;
using Warren.Demo;
using Warren.Configuration;
using Warren.Edge;

namespace Warren.ObservabilityTests;

/// <summary>A real edge, agent and backends on loopback: app (HTTP), dead (HTTP to a closed port), echo (TCP).</summary>
internal sealed class Stack : IAsyncDisposable
{
    public const string Token = "obs";
    public const string AgentName = "obs-agent";

    private Stack(SampleHttpService http, TcpEchoService tcp, EdgeServer edge, WarrenAgent agent, int tcpPort, LogCollector logs)
    {
        (Http, Tcp, Edge, Agent, TcpPort, Logs) = (http, tcp, edge, agent, tcpPort, logs);
        Client = CreateClient(edge.HttpPort!.Value);
    }

    public SampleHttpService Http { get; }
    public TcpEchoService Tcp { get; }
    public EdgeServer Edge { get; }
    public WarrenAgent Agent { get; }
    public int TcpPort { get; }
    public LogCollector Logs { get; }

    /// <summary>Sends every request to the edge's HTTP port whatever the URL's host (so Host routes it).</summary>
    public HttpClient Client { get; }

    public static readonly HttpClient Admin = new() { Timeout = TimeSpan.FromSeconds(10) };

    public static async Task<Stack> StartAsync()
    {
        var logs = new LogCollector();
        var loggerFactory = LoggerFactory.Create(b => b.AddProvider(logs).SetMinimumLevel(LogLevel.Information));
        var http = await SampleHttpService.StartAsync();
        var tcp = new TcpEchoService();
        var tcpPort = FreePort();
        var deadPort = FreePort(); // nothing listens there: dials fail (502)
        var token = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));
        var edgeConfig = ConfigLoader.ValidateEdge(new EdgeConfig
        {
            Listen = new ListenConfig { Http = "127.0.0.1:0", Https = null, Agents = "127.0.0.1:0", Admin = "127.0.0.1:0" },
            DataDirectory = Path.Combine(Path.GetTempPath(), "warren-obs-" + Guid.NewGuid().ToString("N")),
            Tokens = [new EdgeTokenConfig { Name = Token, Token = token, AllowHosts = ["*.test"], AllowPorts = [tcpPort] }],
        });
        var edge = await EdgeServer.StartAsync(edgeConfig, loggerFactory, new EdgeServerOptions { TcpBindAddress = IPAddress.Loopback });
        var agentConfig = ConfigLoader.ValidateAgent(new AgentConfig
        {
            Edge = $"127.0.0.1:{edge.AgentsPort}",
            Token = token,
            EdgeFingerprint = edge.AgentCertificateFingerprint,
            Name = AgentName,
            Admin = "127.0.0.1:0",
            Services =
            [
                new ServiceConfig { Name = "app", Hostnames = ["app.test"], Target = new Uri($"http://127.0.0.1:{http.Port}") },
                new ServiceConfig { Name = "dead", Hostnames = ["dead.test"], Target = new Uri($"http://127.0.0.1:{deadPort}") },
                new ServiceConfig { Name = "echo", Port = tcpPort, Target = new Uri($"tcp://127.0.0.1:{tcp.Port}") },
            ],
        });
        var agent = new WarrenAgent(agentConfig, loggerFactory);
        agent.Start();
        await Wait.UntilAsync(() => agent.IsReady, "the agent registers");
        return new Stack(http, tcp, edge, agent, tcpPort, logs);
    }

    public static HttpClient CreateClient(int port) => new(new SocketsHttpHandler
    {
        ConnectCallback = async (_, cancellationToken) =>
        {
            var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            await socket.ConnectAsync(IPAddress.Loopback, port, cancellationToken);
            return new NetworkStream(socket, ownsSocket: true);
        },
    }) { Timeout = TimeSpan.FromSeconds(20) };

    public Uri Url(string host, string path) => new($"http://{host}:{Edge.HttpPort}{path}");

    public Task<string> EdgeMetricsAsync() => Admin.GetStringAsync(new Uri($"http://127.0.0.1:{Edge.AdminPort}/metrics"));

    public Task<string> AgentMetricsAsync() => Admin.GetStringAsync(new Uri($"http://127.0.0.1:{Agent.AdminPort}/metrics"));

    private static int FreePort()
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        return ((IPEndPoint)probe.LocalEndpoint).Port;
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await Agent.StopAsync(TimeSpan.FromSeconds(2));
        await Edge.DisposeAsync();
        await Tcp.DisposeAsync();
        await Http.DisposeAsync();
    }
}

internal static class Wait
{
    public static async Task UntilAsync(Func<bool> condition, string what, double seconds = 15)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"timed out after {seconds} s waiting until {what}");
            }
            await Task.Delay(20);
        }
    }

    public static async Task UntilAsync(Func<Task<bool>> condition, string what, double seconds = 15)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"timed out after {seconds} s waiting until {what}");
            }
            await Task.Delay(20);
        }
    }
}

/// <summary>Keeps every log entry's category and structured fields (what the JSON console would write).</summary>
internal sealed class LogCollector : ILoggerProvider
{
    public ConcurrentQueue<(string Category, IReadOnlyDictionary<string, object?> Fields, string Message)> Entries { get; } = new();

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void Dispose()
    {
    }

    private sealed class Logger(LogCollector owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Information;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            var fields = state is IReadOnlyList<KeyValuePair<string, object?>> list ? list.ToDictionary(p => p.Key, p => p.Value) : [];
            owner.Entries.Enqueue((category, fields, formatter(state, exception)));
        }
    }
}
