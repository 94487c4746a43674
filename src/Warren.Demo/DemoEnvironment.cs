using System.Net;
using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using Warren.Agent;
using Warren.Configuration;
using Warren.Edge;

namespace Warren.Demo;

/// <summary>The demo's parts, started and stopped together (`warren demo`, and the tests that check the demo end to end).</summary>
public sealed class DemoEnvironment : IAsyncDisposable
{
    /// <summary>Generous: a first run on a small, busy machine compiles most of the code it runs as it goes.</summary>
    private static readonly TimeSpan RegistrationTimeout = TimeSpan.FromSeconds(30);

    private readonly DirectoryInfo _dataDirectory;

    private DemoEnvironment(SampleHttpService http, TcpEchoService tcp, EdgeServer edge, WarrenAgent agent, int tcpEdgePort, DirectoryInfo dataDirectory)
    {
        _dataDirectory = dataDirectory;
        Http = http;
        Tcp = tcp;
        Edge = edge;
        Agent = agent;
        TcpEdgePort = tcpEdgePort;
    }

    public SampleHttpService Http { get; }
    public TcpEchoService Tcp { get; }
    public EdgeServer Edge { get; }
    public WarrenAgent Agent { get; }
    public int TcpEdgePort { get; }

    public const string AppHost = "app.localhost";

    public static async Task<DemoEnvironment> StartAsync(int httpPort, int tcpPort, ILoggerFactory loggerFactory, CancellationToken cancellationToken)
    {
        var http = await SampleHttpService.StartAsync().ConfigureAwait(false);
        var tcp = new TcpEchoService();
        // A folder of its own per run: a demo started after another (or beside the tests' demo) neither shares its
        // databases nor brings back the last run's services, whose TCP port the edge would hold for their grace time.
        var dataDirectory = Directory.CreateTempSubdirectory("warren-demo-");
        // A free port for the echo service, held until the edge has bound its own listeners to ports of the kernel's
        // choosing: released before, it can be handed straight back to one of them (seen: the agents listener got it,
        // and the echo service could not listen).
        using var reservation = tcpPort == 0 ? ReservePort(out tcpPort) : null;
        var token = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));
        EdgeServer edge;
        try
        {
            var edgeConfig = ConfigLoader.ValidateEdge(new EdgeConfig
            {
                Listen = new ListenConfig { Http = $"127.0.0.1:{httpPort}", Https = null, Agents = "127.0.0.1:0", Admin = "127.0.0.1:0", TcpAddress = "127.0.0.1" },
                DataDirectory = dataDirectory.FullName,
                Tokens = [new EdgeTokenConfig { Name = "demo", Token = token, AllowHosts = ["*.localhost"], AllowPorts = [tcpPort] }],
            });
            edge = await EdgeServer.StartAsync(edgeConfig, loggerFactory, cancellationToken: cancellationToken).ConfigureAwait(false);
            // Free for the edge's TCP service, which listens once the agent registers the echo service.
            reservation?.Dispose();
        }
        catch
        {
            await tcp.DisposeAsync().ConfigureAwait(false);
            await http.DisposeAsync().ConfigureAwait(false);
            dataDirectory.Delete(recursive: true);
            throw;
        }
        var agentConfig = ConfigLoader.ValidateAgent(new AgentConfig
        {
            Edge = $"127.0.0.1:{edge.AgentsPort}",
            Token = token,
            EdgeFingerprint = edge.AgentCertificateFingerprint,
            Name = "demo-agent",
            Services =
            [
                new ServiceConfig { Name = "app", Hostnames = [AppHost], Target = new Uri($"http://127.0.0.1:{http.Port}") },
                new ServiceConfig { Name = "echo", Port = tcpPort, Target = new Uri($"tcp://127.0.0.1:{tcp.Port}") },
            ],
        });
        var agent = new WarrenAgent(agentConfig, loggerFactory);
        agent.Start();
        var demo = new DemoEnvironment(http, tcp, edge, agent, tcpPort, dataDirectory);
        try
        {
            await WaitUntilRegisteredAsync(agent, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await demo.DisposeAsync().ConfigureAwait(false);
            throw;
        }
        return demo;
    }

    /// <summary>
    /// Waits for the agent's services to be registered. Being stopped (Ctrl+C) while waiting is an
    /// <see cref="OperationCanceledException"/>, not the timeout: the agent was not late, the user left.
    /// </summary>
    private static async Task WaitUntilRegisteredAsync(WarrenAgent agent, CancellationToken cancellationToken)
    {
        var started = TimeProvider.System.GetTimestamp();
        while (!agent.IsReady)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (TimeProvider.System.GetElapsedTime(started) > RegistrationTimeout)
            {
                throw new TimeoutException($"the demo agent did not register within {RegistrationTimeout.TotalSeconds:0} s");
            }
            await Task.Delay(20, cancellationToken).ConfigureAwait(false);
        }
    }

    private static System.Net.Sockets.TcpListener ReservePort(out int port)
    {
        var listener = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        port = ((IPEndPoint)listener.LocalEndpoint).Port;
        return listener;
    }

    public string Banner()
    {
        var web = $"http://{AppHost}:{Edge.HttpPort}";
        return $$"""

            Warren demo is running: edge, agent and two services on loopback, one TLS session between them.

              HTTP service   {{web}}/          (the agent publishes 127.0.0.1:{{Http.Port}})
              TCP echo       127.0.0.1:{{TcpEdgePort}}          (the agent publishes 127.0.0.1:{{Tcp.Port}})
              Edge admin     http://127.0.0.1:{{Edge.AdminPort}}/api/status

            Try:
              curl {{web}}/echo -d 'hello through the tunnel'
              curl -N {{web}}/stream                        # server-sent events, one per second
              curl -o /dev/null -w '%{size_download} bytes\n' {{web}}/bytes/104857600
              nc 127.0.0.1 {{TcpEdgePort}}                     # type a line: it comes back; Ctrl+C to end
              curl http://127.0.0.1:{{Edge.AdminPort}}/api/status
            WebSocket echo: ws://{{AppHost}}:{{Edge.HttpPort}}/ws   (e.g. websocat)
            If your resolver does not map *.localhost to 127.0.0.1: curl -H 'Host: {{AppHost}}' http://127.0.0.1:{{Edge.HttpPort}}/echo

            Press Ctrl+C to stop.
            """;
    }

    public async ValueTask DisposeAsync()
    {
        await Agent.StopAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        await Edge.DisposeAsync().ConfigureAwait(false);
        await Tcp.DisposeAsync().ConfigureAwait(false);
        await Http.DisposeAsync().ConfigureAwait(false);
        _dataDirectory.Delete(recursive: true);
    }
}
