using System.Net;
using System.Net.Http;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Text;
using Warren.Cli.Commands;
using Warren.Configuration;
using Xunit.Abstractions;

namespace Warren.ObservabilityTests;

/// <summary>
/// Metrics, access log, health endpoints and <c>warren status</c> against a real edge, agent and backends on
/// loopback: app (HTTP), dead (HTTP to a port where nothing listens: dials fail, 502), echo (TCP).
/// </summary>
public sealed class MetricsTests(ITestOutputHelper output) : LoggedTest(output)
{
    private const string TokenName = "obs";
    private const string AgentName = "obs-agent";
    private static readonly HttpClient Admin = TestClients.Create(timeout: TimeSpan.FromSeconds(30));

    /// <summary>The tunnel under observation, its client (every connection to the edge's HTTP port) and its TCP service port.</summary>
    private sealed record Stack(WarrenHarness Tunnel, HttpClient Client, int TcpPort)
    {
        public Warren.Edge.EdgeServer Edge => Tunnel.Edge;

        public Warren.Agent.WarrenAgent Agent => Tunnel.Agent!;

        /// <summary>A URL that names <paramref name="host"/>, so Host routes it (the client connects to the edge whatever the host).</summary>
        public Uri Url(string host, string path) => new($"http://{host}:{Edge.HttpPort}{path}");

        public Task<string> EdgeMetricsAsync() => Tunnel.MetricsTextAsync();

        public Task<string> AgentMetricsAsync() => Admin.GetStringAsync(new Uri($"http://127.0.0.1:{Agent.AdminPort}/metrics"));
    }

    private async Task<Stack> StartStackAsync()
    {
        var tcpPort = ReservePort();
        var nothingListens = ReservePort();
        var tunnel = Own(await WarrenHarness.StartAsync(Log, new HarnessOptions
        {
            TokenName = TokenName,
            AgentName = AgentName,
            AllowPorts = [tcpPort],
            ConfigureAgent = agent => agent with { Admin = "127.0.0.1:0" },
            Services = h =>
            [
                h.HttpService("app", "app.test"),
                h.HttpService("dead", "dead.test", new Uri($"http://127.0.0.1:{nothingListens}")),
                new ServiceConfig { Name = "echo", Port = tcpPort, Target = new Uri($"tcp://127.0.0.1:{h.TcpEcho.Port}") },
            ],
        }));
        var client = TestClients.Create(port: tunnel.Edge.HttpPort!.Value, timeout: TimeSpan.FromSeconds(20));
        OnEnd(client.Dispose);
        return new Stack(tunnel, client, tcpPort);
    }

    private static double Value(IReadOnlyList<Sample> samples, string name, params (string Key, string Value)[] labels) =>
        samples.Where(s => s.Name == name && labels.All(l => s.Label(l.Key) == l.Value)).Select(s => s.Value).DefaultIfEmpty(double.NaN).Sum();

    private static async Task WebSocketRoundTripAsync(Stack stack)
    {
        using var invoker = new HttpMessageInvoker(new SocketsHttpHandler
        {
            ConnectCallback = async (_, ct) =>
            {
                var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
                await socket.ConnectAsync(IPAddress.Loopback, stack.Edge.HttpPort!.Value, ct);
                return new NetworkStream(socket, ownsSocket: true);
            },
        });
        using var ws = new ClientWebSocket();
        await ws.ConnectAsync(new Uri($"ws://app.test:{stack.Edge.HttpPort}/ws"), invoker, CancellationToken.None);
        await ws.SendAsync("hello"u8.ToArray(), WebSocketMessageType.Text, true, CancellationToken.None);
        var buffer = new byte[64];
        var got = await ws.ReceiveAsync(buffer, CancellationToken.None);
        Assert.Equal("hello", Encoding.UTF8.GetString(buffer, 0, got.Count));
        await ws.CloseAsync(WebSocketCloseStatus.NormalClosure, "done", CancellationToken.None);
    }

    private static async Task<int> TcpRoundTripAsync(Stack stack)
    {
        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, stack.TcpPort);
        var stream = client.GetStream();
        var payload = "ping through the tunnel\n"u8.ToArray();
        await stream.WriteAsync(payload);
        client.Client.Shutdown(SocketShutdown.Send);
        var received = new MemoryStream();
        await stream.CopyToAsync(received);
        Assert.Equal(payload, received.ToArray());
        return payload.Length;
    }

    [Fact]
    public async Task A_known_mix_of_traffic_is_counted_exactly_with_bounded_labels()
    {
        var stack = await StartStackAsync();
        for (var i = 0; i < 3; i++)
        {
            using var ok = await stack.Client.GetAsync(stack.Url("app.test", $"/echo?secret=s{i}"));
            Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        }
        for (var i = 0; i < 2; i++)
        {
            using var missing = await stack.Client.GetAsync(stack.Url($"nobody{i}.example", "/x"));
            Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        }
        using (var bad = await stack.Client.GetAsync(stack.Url("dead.test", "/")))
        {
            Assert.Equal(HttpStatusCode.BadGateway, bad.StatusCode);
        }
        await WebSocketRoundTripAsync(stack);
        var tcpBytes = await TcpRoundTripAsync(stack);

        // Gauges settle once the connections are closed on the edge's side.
        IReadOnlyList<Sample> edge = [];
        await Wait.UntilAsync(async () =>
        {
            edge = Exposition.Parse(await stack.EdgeMetricsAsync());
            return Value(edge, "warren_service_tcp_connections_open", ("service", "echo")) == 0
                && Value(edge, "warren_service_upgraded_connections_open", ("service", "app")) == 0
                && Value(edge, "warren_service_active_streams") == 0
                && Value(edge, "warren_service_received_bytes_total", ("service", "echo")) == tcpBytes;
        }, "the edge's gauges settle");

        (string, string) app = ("service", "app"), owner = ("owner", TokenName);
        Assert.Equal(3, Value(edge, "warren_http_requests_total", app, owner, ("code", "200"), ("class", "2xx")));
        Assert.Equal(1, Value(edge, "warren_http_requests_total", app, owner, ("code", "101"), ("class", "1xx")));
        Assert.Equal(4, Value(edge, "warren_http_requests_total", app));
        Assert.Equal(1, Value(edge, "warren_http_requests_total", ("service", "dead"), ("code", "502"), ("class", "5xx")));
        Assert.Equal(1, Value(edge, "warren_http_requests_total", ("service", "dead")));
        Assert.Equal(2, Value(edge, "warren_http_unrouted_requests_total", ("reason", "no_route")));
        Assert.Equal(1, Value(edge, "warren_service_errors_total", ("service", "dead"), ("kind", "dial_failed")));
        Assert.Equal(1, Value(edge, "warren_service_errors_total"));
        Assert.Equal(4, Value(edge, "warren_http_request_duration_seconds_count", app));
        Assert.Equal(4, Value(edge, "warren_http_request_duration_seconds_bucket", app, ("le", "+Inf")));
        Assert.Equal(1, Value(edge, "warren_service_upgraded_connections_total", app));
        Assert.Equal(1, Value(edge, "warren_service_tcp_connections_total", ("service", "echo")));
        Assert.Equal(tcpBytes, Value(edge, "warren_service_sent_bytes_total", ("service", "echo")));
        Assert.True(Value(edge, "warren_service_received_bytes_total", app) > 0);
        Assert.True(Value(edge, "warren_service_sent_bytes_total", app) > 0);
        (string, string) agent = ("agent", AgentName), token = ("token", TokenName);
        Assert.Equal(1, Value(edge, "warren_edge_sessions", agent, token));
        Assert.Equal(1, Value(edge, "warren_edge_session_connects_total", agent, token));
        Assert.Equal(0, Value(edge, "warren_edge_agent_reconnects_total", agent, token));
        Assert.True(Value(edge, "warren_edge_session_frames_sent_total", agent, token) > 0);
        Assert.True(Value(edge, "warren_edge_session_received_bytes_total", agent, token) > 0);
        Assert.True(Value(edge, "warren_edge_session_rtt_seconds", agent, token) >= 0);
        Assert.Equal(1, Value(edge, "warren_edge_connections_total", ("listener", "agents")));
        Assert.Equal(1, Value(edge, "warren_edge_connections_open", ("listener", "agents")));
        Assert.True(Value(edge, "warren_edge_connections_total", ("listener", "http")) >= 2);
        Assert.Equal(0, Value(edge, "warren_edge_auth_failures_total"));
        Assert.Equal(1, Value(edge, "warren_edge_ready"));
        Assert.Contains(edge, s => s.Name == "process_cpu_seconds_total");
        Assert.Contains(edge, s => s.Name == "warren_edge_inbound_buffered_bytes");
        Assert.Contains(edge, s => s.Name == "warren_edge_buffer_blocks_outstanding");
        Assert.Contains(edge, s => s.Name == "dotnet_collection_count_total");
        // Only configured names and fixed enums appear as label values: no hosts, paths, queries or IPs.
        var allowed = new HashSet<string> { "app", "dead", "echo", TokenName, AgentName };
        foreach (var sample in edge)
        {
            foreach (var (key, value) in sample.Labels)
            {
                Assert.DoesNotContain("nobody", value, StringComparison.Ordinal);
                Assert.DoesNotContain("127.0.0.1", value, StringComparison.Ordinal);
                Assert.DoesNotContain("secret", value, StringComparison.Ordinal);
                if (key is "service" or "owner" or "agent" or "token")
                {
                    Assert.Contains(value, allowed);
                }
            }
        }

        // The agent's side of the same story.
        IReadOnlyList<Sample> agentSide = [];
        await Wait.UntilAsync(async () =>
        {
            agentSide = Exposition.Parse(await stack.AgentMetricsAsync());
            return Value(agentSide, "warren_agent_streams_served_total", ("service", "echo")) == 1
                && Value(agentSide, "warren_agent_service_in_flight", ("service", "echo")) == 0;
        }, "the agent's counters settle");
        Assert.Equal(1, Value(agentSide, "warren_agent_dials_total", ("service", "dead"), ("result", "dial_failed")));
        Assert.Equal(0, Value(agentSide, "warren_agent_dials_total", ("service", "dead"), ("result", "ok")));
        Assert.True(Value(agentSide, "warren_agent_dials_total", app, ("result", "ok")) >= 1);
        Assert.Equal(1, Value(agentSide, "warren_agent_dials_total", ("service", "echo"), ("result", "ok")));
        Assert.Equal(1, Value(agentSide, "warren_agent_sessions_connected"));
        Assert.Equal(0, Value(agentSide, "warren_agent_reconnects_total"));
        Assert.Equal(1, Value(agentSide, "warren_agent_ready"));
        Assert.True(Value(agentSide, "warren_agent_session_rtt_seconds", ("session", "0")) >= 0);
        Assert.Contains(agentSide, s => s.Name == "process_cpu_seconds_total");
        Assert.Contains(agentSide, s => s.Name == "warren_agent_inbound_buffered_bytes");
        Assert.Contains(agentSide, s => s.Name == "warren_agent_buffer_blocks_outstanding");
        Assert.Contains(agentSide, s => s.Name == "warren_agent_session_streams_open" && s.Label("session") == "0");

        // Access log: one line per request and per TCP connection; paths without the query string. Written by a
        // background task (AccessLogWriter), so the last lines may follow the metrics by a moment.
        await Wait.UntilAsync(() => Log.Entries.Count(e => e.Category == "Warren.Access") >= 8, "the access log's 8 lines");
        var access = Log.Entries.Where(e => e.Category == "Warren.Access").ToList();
        Assert.Equal(3, access.Count(e => Equals(e.Fields.GetValueOrDefault("Service"), "app") && Equals(e.Fields.GetValueOrDefault("Path"), "/echo") && Equals(e.Fields.GetValueOrDefault("Status"), 200)));
        Assert.Equal(2, access.Count(e => Equals(e.Fields.GetValueOrDefault("Status"), 404)));
        Assert.Single(access, e => Equals(e.Fields.GetValueOrDefault("Service"), "dead") && Equals(e.Fields.GetValueOrDefault("Status"), 502));
        Assert.Single(access, e => Equals(e.Fields.GetValueOrDefault("Path"), "/ws") && Equals(e.Fields.GetValueOrDefault("Status"), 101));
        var tcpLine = Assert.Single(access, e => Equals(e.Fields.GetValueOrDefault("Service"), "echo"));
        Assert.Equal((long)tcpBytes, tcpLine.Fields["BytesIn"]);
        Assert.Equal("127.0.0.1", tcpLine.Fields["Client"]);
        Assert.StartsWith(AgentName + "#", (string)tcpLine.Fields["Session"]!, StringComparison.Ordinal);
        Assert.True(access.Count == 8, string.Join("\n", access.Select(e => e.Message)));
        Assert.DoesNotContain(access, e => e.Message.Contains("secret", StringComparison.Ordinal));
        Assert.All(access.Where(e => Equals(e.Fields.GetValueOrDefault("Service"), "app")), e =>
        {
            Assert.Equal("127.0.0.1", e.Fields["Client"]);
            Assert.True((long)e.Fields["BytesOut"]! > 0);
        });
    }

    [Fact]
    public async Task Ten_thousand_distinct_paths_clients_and_unknown_hosts_create_no_series()
    {
        var stack = await StartStackAsync();
        async Task SendAsync(int i)
        {
            // One connection pool (the URL's host), the Host header varies: even requests reach app, odd ones no service.
            using var request = new HttpRequestMessage(HttpMethod.Get, stack.Url("app.test", $"/p/{i}?q={i}"));
            request.Headers.Host = i % 2 == 0 ? "app.test" : $"h{i}.unknown.test";
            request.Headers.Add("X-Forwarded-For", $"10.{i / 65536 % 256}.{i / 256 % 256}.{i % 256}");
            using var response = await stack.Client.SendAsync(request);
            Assert.Equal(i % 2 == 0 ? HttpStatusCode.NotFound : HttpStatusCode.NotFound, response.StatusCode);
        }
        // Warm up: every series these requests can touch exists before the baseline.
        await SendAsync(0);
        await SendAsync(1);
        var before = Exposition.Parse(await stack.EdgeMetricsAsync()).Select(s => s.Key).ToHashSet();
        var next = 1;
        await Task.WhenAll(Enumerable.Range(0, 16).Select(async _ =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < 10_002)
            {
                await SendAsync(i);
            }
        }));
        var afterSamples = Exposition.Parse(await stack.EdgeMetricsAsync());
        var after = afterSamples.Select(s => s.Key).ToHashSet();
        Assert.Empty(after.Except(before));
        Assert.Equal(5_001, afterSamples.Where(s => s.Name == "warren_http_requests_total" && s.Label("service") == "app").Sum(s => s.Value));
        Assert.Equal(5_001, afterSamples.Single(s => s.Name == "warren_http_unrouted_requests_total" && s.Label("reason") == "no_route").Value);
        var agentBefore = Exposition.Parse(await stack.AgentMetricsAsync()).Count;
        Assert.Equal(agentBefore, Exposition.Parse(await stack.AgentMetricsAsync()).Count);
    }

    [Fact]
    public async Task Readyz_flips_when_the_agent_session_drops_and_comes_back()
    {
        var stack = await StartStackAsync();
        var agentAdmin = $"http://127.0.0.1:{stack.Agent.AdminPort}";
        var edgeAdmin = $"http://127.0.0.1:{stack.Edge.AdminPort}";
        async Task<HttpStatusCode> StatusOf(string url)
        {
            using var response = await Admin.GetAsync(new Uri(url));
            return response.StatusCode;
        }
        Assert.Equal(HttpStatusCode.OK, await StatusOf(agentAdmin + "/readyz"));
        Assert.Equal(HttpStatusCode.OK, await StatusOf(agentAdmin + "/healthz"));
        Assert.Equal(HttpStatusCode.OK, await StatusOf(edgeAdmin + "/readyz"));
        Assert.Equal(HttpStatusCode.OK, await StatusOf(edgeAdmin + "/healthz"));

        stack.Edge.State.CloseSessionsOf(new HashSet<string> { TokenName });
        await Wait.UntilAsync(async () => await StatusOf(agentAdmin + "/readyz") == HttpStatusCode.ServiceUnavailable, "the agent reports not ready");
        Assert.Equal(HttpStatusCode.OK, await StatusOf(agentAdmin + "/healthz"));
        await Wait.UntilAsync(async () => await StatusOf(agentAdmin + "/readyz") == HttpStatusCode.OK, "the agent is ready again");

        var edge = Exposition.Parse(await stack.EdgeMetricsAsync());
        Assert.Equal(2, Value(edge, "warren_edge_session_connects_total", ("agent", AgentName)));
        Assert.Equal(1, Value(edge, "warren_edge_agent_reconnects_total", ("agent", AgentName)));
        Assert.Equal(1, Value(edge, "warren_edge_session_disconnects_total", ("agent", AgentName), ("code", "unauthorized"), ("by", "edge")));
        Assert.Equal(1, Value(edge, "warren_edge_sessions", ("agent", AgentName)));
        var agentSide = Exposition.Parse(await stack.AgentMetricsAsync());
        Assert.Equal(1, Value(agentSide, "warren_agent_reconnects_total"));
    }

    [Fact]
    public async Task Warren_status_names_every_session_and_service()
    {
        var stack = await StartStackAsync();
        var output = new StringWriter();
        var error = new StringWriter();
        Assert.Equal(0, await StatusCommand.RunAsync($"127.0.0.1:{stack.Edge.AdminPort}", null, output, error, CancellationToken.None));
        var text = output.ToString();
        var session = Assert.Single(stack.Edge.State.Sessions);
        Assert.Contains("SESSIONS", text, StringComparison.Ordinal);
        Assert.Contains(AgentName, text, StringComparison.Ordinal);
        Assert.Contains(TokenName, text, StringComparison.Ordinal);
        Assert.Contains($"  {session.Id} ", text, StringComparison.Ordinal);
        Assert.Contains("app,dead,echo", text, StringComparison.Ordinal);
        Assert.Contains("LINK", text, StringComparison.Ordinal);
        Assert.Contains(" sealed records ", text, StringComparison.Ordinal); // what the agent link runs on
        Assert.Contains("SERVICES", text, StringComparison.Ordinal);
        foreach (var expected in new[] { "app.test", "dead.test", $":{stack.TcpPort}", "tcp", "http" })
        {
            Assert.Contains(expected, text, StringComparison.Ordinal);
        }
        Assert.Empty(error.ToString());

        // The agent's admin address answers the same command.
        output = new StringWriter();
        Assert.Equal(0, await StatusCommand.RunAsync($"http://127.0.0.1:{stack.Agent.AdminPort}", null, output, error, CancellationToken.None));
        Assert.Contains("agent: ready", output.ToString(), StringComparison.Ordinal);

        // Nothing there: a clear message and a non-zero exit.
        var closed = ReservePort();
        error = new StringWriter();
        Assert.Equal(1, await StatusCommand.RunAsync($"127.0.0.1:{closed}", null, new StringWriter(), error, CancellationToken.None));
        Assert.Contains($"no answer from the admin address 127.0.0.1:{closed}", error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void The_strict_parser_refuses_malformed_exposition()
    {
        Assert.Throws<FormatException>(() => Exposition.Parse("x 1\n"));
        Assert.Throws<FormatException>(() => Exposition.Parse("# TYPE x counter\nx{a=b} 1\n"));
        Assert.Throws<FormatException>(() => Exposition.Parse("# TYPE x counter\nx{a=\"b\\q\"} 1\n"));
        Assert.Throws<FormatException>(() => Exposition.Parse("# TYPE x counter\nx 1 2 3\n"));
        Assert.Throws<FormatException>(() => Exposition.Parse("# TYPE x counter\nx one\n"));
        Assert.Throws<FormatException>(() => Exposition.Parse("# TYPE x counter\n1x 1\n"));
        Assert.Throws<FormatException>(() => Exposition.Parse("# TYPE x counter\nx 1\nx 2\n"));
        var ok = Exposition.Parse("# HELP x h\n# TYPE x histogram\nx_bucket{le=\"+Inf\",a=\"q\\\"\\\\\\n\"} 3\nx_sum 1.5e-3\nx_count 3\n");
        Assert.Equal("q\"\\\n", ok[0].Label("a"));
    }
}
