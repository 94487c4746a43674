using System.Net;
using System.Net.Http;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Text;
using Warren.Configuration;
using Xunit.Abstractions;

namespace Warren.ClusterTests;

/// <summary>
/// Any edge serves any service (docs/cluster.md, "Forwarding"): a request reaching an edge that holds no session for
/// its service goes over an authenticated edge-to-edge session to an edge that does.
/// </summary>
public sealed class ForwardingTests(ITestOutputHelper output) : LoggedTest(output)
{
    /// <summary>The test client's source address: not the 127.0.0.1 the edges dial each other from.</summary>
    private static readonly IPAddress ClientAddress = IPAddress.Parse("127.0.0.2");

    [Fact]
    public async Task Three_edges_and_two_agents_each_on_one_edge_HTTP_WebSocket_and_TCP_services_answer_through_every_edge_with_the_real_client_address()
    {
        await using var cluster = await ClusterHarness.StartAsync(Log, ReservePort());
        await using var echo = new Warren.Demo.TcpEchoService();
        string[] edges = ["a", "b", "c"];
        // One TCP address per edge: each edge listens on the TCP service's port, wherever its session is.
        var tcpAddresses = new Dictionary<string, IPAddress> { ["a"] = IPAddress.Parse("127.0.0.11"), ["b"] = IPAddress.Parse("127.0.0.12"), ["c"] = IPAddress.Parse("127.0.0.13") };
        var tcpPort = ReservePort();
        foreach (var edge in edges)
        {
            await cluster.StartEdgeAsync(edge, tcpAddress: tcpAddresses[edge],
                configure: c => c with { Tokens = [.. c.Tokens.Select(t => t.Name == "beta" ? t with { AllowPorts = [tcpPort] } : t)] });
        }
        // Each agent on one edge only: app.test is held by a, api.test and the TCP port by b; c holds nothing.
        await cluster.StartAgentAsync("a", cluster.AlphaToken, "alpha", [cluster.Http("app", "app.test")]);
        await cluster.StartAgentAsync("b", cluster.BetaToken, "beta",
            [cluster.Http("api", "api.test"), new ServiceConfig { Name = "echo", Port = tcpPort, Target = new Uri($"tcp://127.0.0.1:{echo.Port}") }]);
        await Wait.UntilAsync(() => edges.All(e => cluster[e].Peers!.Routes.MatchHttp("app.test", "/").Length + cluster[e].Peers!.Routes.MatchHttp("api.test", "/").Length >= 1
            && cluster[e].ClusterRegistry!.Edges.Count == 3), "every edge knows which edge holds app.test and api.test");

        using var client = ClientFrom(ClientAddress);
        foreach (var edge in edges)
        {
            foreach (var host in new[] { "app.test", "api.test" })
            {
                for (var i = 0; i < 3; i++)
                {
                    using var request = new HttpRequestMessage(HttpMethod.Get, $"http://127.0.0.1:{cluster[edge].HttpPort}/echo?n={i}");
                    request.Headers.Host = host;
                    using var response = await client.SendAsync(request);
                    var body = await response.Content.ReadAsStringAsync();
                    Assert.True(response.StatusCode == HttpStatusCode.OK, $"{host} through edge {edge}: {(int)response.StatusCode} {body}");
                    // The backend sees the client, not the edge that forwarded the request.
                    Assert.Contains("X-Forwarded-For: 127.0.0.2\n", body, StringComparison.Ordinal);
                    Assert.Contains("X-Real-IP: 127.0.0.2\n", body, StringComparison.Ordinal);
                    Assert.Contains($"Host: {host}\n", body, StringComparison.Ordinal);
                    Assert.DoesNotContain("X-Warren-Peer", body, StringComparison.OrdinalIgnoreCase);
                }
            }
        }
        // c forwarded to both, a to b and b to a: each edge dialed a session only to the edges it needed.
        Assert.Equal(2, cluster["a"].PeerSessionCount); // from b and c
        Assert.Equal(2, cluster["b"].PeerSessionCount); // from a and c
        // Each of those four links runs on sealed records, the peer handshake inside them (docs/protocol.md §10.5).
        await Wait.UntilAsync(() => Log.Matching("Cluster: edge", "connected from", "over sealed records").Count >= 4, "four edge-to-edge links logged as sealed");
        Assert.Empty(Log.Matching("Cluster: edge", "connected from", "over TLS"));

        // A WebSocket through the edge that holds nothing, both ways, then a clean close.
        using (var socket = new ClientWebSocket())
        {
            socket.Options.SetRequestHeader("Host", "app.test");
            using var timeout = new CancellationTokenSource(TestTimeout);
            await socket.ConnectAsync(new Uri($"ws://127.0.0.1:{cluster["c"].HttpPort}/ws"), timeout.Token);
            var buffer = new byte[1024];
            for (var i = 0; i < 20; i++)
            {
                var message = Encoding.UTF8.GetBytes($"message {i} through c");
                await socket.SendAsync(message, WebSocketMessageType.Text, endOfMessage: true, timeout.Token);
                var received = await socket.ReceiveAsync(buffer, timeout.Token);
                Assert.Equal(message, buffer[..received.Count]);
            }
            await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "done", timeout.Token);
            Assert.Equal(WebSocketCloseStatus.NormalClosure, socket.CloseStatus);
        }

        // The TCP service, through every edge: a and c listen on its port because b holds it.
        await Wait.UntilAsync(() => edges.All(e => cluster[e].TcpPorts.Contains(tcpPort)), "every edge listens on the TCP service's port");
        foreach (var edge in edges)
        {
            using var tcp = new TcpClient();
            await tcp.ConnectAsync(new IPEndPoint(tcpAddresses[edge], tcpPort));
            var stream = tcp.GetStream();
            for (var i = 0; i < 5; i++)
            {
                var message = Encoding.ASCII.GetBytes($"line {i} through {edge}\n");
                await stream.WriteAsync(message);
                var back = new byte[message.Length];
                await stream.ReadExactlyAsync(back);
                Assert.Equal(message, back);
            }
            tcp.Client.Shutdown(SocketShutdown.Send);
            Assert.Equal(0, await stream.ReadAsync(new byte[1])); // a clean end both ways
        }

        // A hostname nobody serves is still this edge's 404 (never forwarded), and a client cannot claim another address.
        using (var unknown = await cluster.GetAsync("c", "nobody.test"))
        {
            Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        }
        using (var spoofed = new HttpRequestMessage(HttpMethod.Get, $"http://127.0.0.1:{cluster["c"].HttpPort}/echo"))
        {
            spoofed.Headers.Host = "app.test";
            spoofed.Headers.TryAddWithoutValidation("X-Warren-Peer-Client", "192.0.2.1:1");
            using var response = await client.SendAsync(spoofed);
            var body = await response.Content.ReadAsStringAsync();
            Assert.Contains("X-Forwarded-For: 127.0.0.2\n", body, StringComparison.Ordinal);
            Assert.DoesNotContain("192.0.2.1", body, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task An_edge_with_sealed_records_off_keeps_its_links_to_other_edges_on_TLS_both_ways()
    {
        await using var cluster = await ClusterHarness.StartAsync(Log, ReservePort());
        // a keeps every link on TLS (agent_tls.sealed_records: false); b allows sealed records, as by default.
        await cluster.StartEdgeAsync("a", configure: c => c with { AgentTls = c.AgentTls with { SealedRecords = false } });
        await cluster.StartEdgeAsync("b");
        await cluster.StartAgentAsync("a", cluster.AlphaToken, "alpha", [cluster.Http("app", "app.test")]);
        await cluster.StartAgentAsync("b", cluster.BetaToken, "beta", [cluster.Http("api", "api.test")]);
        await Wait.UntilAsync(() => cluster["a"].Peers!.Routes.MatchHttp("api.test", "/").Length == 1 && cluster["b"].Peers!.Routes.MatchHttp("app.test", "/").Length == 1,
            "each edge knows which edge holds the other's service");

        // a dials b without offering them; b dials a, which does not select them.
        foreach (var (edge, host) in new[] { ("a", "api.test"), ("b", "app.test") })
        {
            using var response = await cluster.GetAsync(edge, host);
            Assert.True(response.StatusCode == HttpStatusCode.OK, $"{host} through edge {edge}: {(int)response.StatusCode}");
        }
        await Wait.UntilAsync(() => Log.Matching("Cluster: edge", "connected from", "over TLS").Count >= 2, "both edge-to-edge links logged as TLS");
        Assert.Empty(Log.Matching("Cluster: edge", "connected from", "over sealed records"));
    }

    [Fact]
    public async Task An_edge_with_another_cluster_secret_is_refused_and_gets_no_request_through()
    {
        await using var cluster = await ClusterHarness.StartAsync(Log, ReservePort());
        await cluster.StartEdgeAsync("a");
        // Same Redis, so it reads a's heartbeat and dials it, but it does not hold the cluster's secret.
        await cluster.StartEdgeAsync("intruder", secret: "not-the-cluster-secret-0123456789abcdef");
        await cluster.StartAgentAsync("a", cluster.AlphaToken, "alpha", [cluster.Http("app", "app.test")]);
        await Wait.UntilAsync(() => cluster["intruder"].Peers!.Routes.MatchHttp("app.test", "/").Length == 1, "the intruder reads that a holds app.test");

        // Were the handshake skipped, this request would reach the backend through a.
        using (var response = await cluster.GetAsync("intruder", "app.test"))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        }
        await Log.WaitForAsync(TimeSpan.FromSeconds(30), "Cluster: cannot reach edge a", "edge 'a' could not prove the cluster secret");
        await Log.WaitForAsync(TimeSpan.FromSeconds(30), "Cluster: refused an edge-to-edge connection from");
        Assert.Equal(0, cluster["a"].PeerSessionCount);
    }

    [Fact]
    public async Task A_dialer_that_cannot_prove_the_secret_gets_no_session_and_one_that_can_does()
    {
        await using var cluster = await ClusterHarness.StartAsync(Log, ReservePort());
        var a = await cluster.StartEdgeAsync("a");
        var fingerprint = Convert.FromHexString(a.AgentCertificateFingerprint!);

        // A dialer that reads the listener's proof and answers with 32 bytes of its own making.
        await using (var forged = await DialTlsAsync(a.PeerAddress!, fingerprint))
        {
            await forged.WriteAsync((byte[])[.. "WPR1"u8, .. new byte[32], 7, .. "mallory"u8]);
            var hello = new byte[4 + 32 + 1];
            await forged.ReadExactlyAsync(hello);
            var rest = new byte[hello[^1] + 32];
            await forged.ReadExactlyAsync(rest);
            await forged.WriteAsync(new byte[32]);
            var answer = new byte[1];
            using var timeout = new CancellationTokenSource(TestTimeout);
            Assert.Equal(0, await forged.ReadAtLeastAsync(answer, 1, throwOnEndOfStream: false, timeout.Token)); // closed, never 0x00
        }
        await Log.WaitForAsync(TimeSpan.FromSeconds(30), "Cluster: refused an edge-to-edge connection from", "'mallory' could not prove the cluster secret");
        Assert.Equal(0, a.PeerSessionCount);

        // The same exchange with the secret is accepted: the refusal above is the proof's, not the harness's. This dialer
        // offers sealed records, as edges do, and runs the handshake inside them; the forger above offered nothing and
        // stayed on TLS.
        await using (var honest = await DialSealedAsync(a.PeerAddress!, fingerprint))
        {
            using var timeout = new CancellationTokenSource(TestTimeout);
            Assert.Equal("a", await Warren.Edge.Cluster.PeerHandshake.DialAsync(honest, ClusterHarness.Secret, "honest", fingerprint, timeout.Token));
        }
    }

    [Fact]
    public async Task A_hostname_whose_agent_restarts_on_another_edge_waits_through_an_edge_that_never_held_it_and_is_never_404()
    {
        await using var cluster = await ClusterHarness.StartAsync(Log, ReservePort());
        // A grace long enough for an agent to come back on a loaded machine.
        Func<Warren.Configuration.EdgeConfig, Warren.Configuration.EdgeConfig> grace = c => c with { Grace = c.Grace with { Timeout = TimeSpan.FromSeconds(15) } };
        await cluster.StartEdgeAsync("a", configure: grace);
        await cluster.StartEdgeAsync("c", configure: grace);
        var agent = await cluster.StartAgentAsync("a", cluster.AlphaToken, "alpha", [cluster.Http("app", "app.test")]);
        await cluster.WaitUntilServedAsync("c", "app.test");

        // The agent goes away: a still knows app.test (its grace queue), and says so in its heartbeat.
        await agent.DisposeAsync();
        await Wait.UntilAsync(() => cluster["c"].Peers!.Routes.MatchHttp("app.test", "/").Length == 0 && cluster["c"].Peers!.Routes.IsKnown("app.test", "/"),
            "edge c reads that a knows app.test and holds no session for it");
        var waiting = cluster.GetAsync("c", "app.test");
        var again = await cluster.StartAgentAsync("a", cluster.AlphaToken, "alpha-again", [cluster.Http("app", "app.test")]);
        using (var served = await waiting)
        {
            Assert.Equal(HttpStatusCode.OK, served.StatusCode); // waited on c for the agent that came back on a
        }

        // Gone for good: 503 after the grace, never 404.
        await again.DisposeAsync();
        await Wait.UntilAsync(() => cluster["c"].Peers!.Routes.MatchHttp("app.test", "/").Length == 0 && cluster["c"].Peers!.Routes.IsKnown("app.test", "/"),
            "edge c reads that a holds no session for app.test again");
        using (var unserved = await cluster.GetAsync("c", "app.test"))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, unserved.StatusCode);
        }
    }

    /// <summary>TLS to an edge-to-edge listener, its certificate pinned as edges pin it.</summary>
    private static async Task<System.Net.Security.SslStream> DialTlsAsync(string address, byte[] fingerprint)
    {
        var endPoint = IPEndPoint.Parse(address);
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(endPoint);
        var tls = new System.Net.Security.SslStream(new NetworkStream(socket, ownsSocket: true), leaveInnerStreamOpen: false,
            (_, certificate, _, _) => certificate is not null && System.Security.Cryptography.SHA256.HashData(certificate.GetRawCertData()).AsSpan().SequenceEqual(fingerprint));
        await tls.AuthenticateAsClientAsync("edge");
        return tls;
    }

    /// <summary>The same, offering sealed records (docs/protocol.md §1.1): the listener must select them.</summary>
    private static async Task<Stream> DialSealedAsync(string address, byte[] fingerprint)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(IPEndPoint.Parse(address));
        var network = new Warren.Protocol.Transport.LinkStream(socket, ownsSocket: true);
        var tls = network.StartTls(leaveInnerStreamOpen: false);
        await tls.AuthenticateAsClientAsync(new System.Net.Security.SslClientAuthenticationOptions
        {
            TargetHost = "edge",
            RemoteCertificateValidationCallback = (_, certificate, _, _) =>
                certificate is not null && System.Security.Cryptography.SHA256.HashData(certificate.GetRawCertData()).AsSpan().SequenceEqual(fingerprint),
            ApplicationProtocols = [Warren.Protocol.Transport.SealedLinkStream.Protocol],
        });
        Assert.Equal(Warren.Protocol.Transport.SealedLinkStream.Protocol, tls.NegotiatedApplicationProtocol);
        var sealedLink = await Warren.Protocol.Transport.SealedLinkStream.StartAsync(tls, network, isClient: true, ownsSocket: true, CancellationToken.None);
        await tls.DisposeAsync();
        return sealedLink;
    }

    /// <summary>An HTTP client whose connections come from <paramref name="source"/> (any 127.0.0.0/8 address is loopback on Linux).</summary>
    internal static HttpClient ClientFrom(IPAddress source) => new(new SocketsHttpHandler
    {
        UseProxy = false,
        AllowAutoRedirect = false,
        UseCookies = false,
        ConnectCallback = async (context, cancellationToken) =>
        {
            var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                socket.Bind(new IPEndPoint(source, 0));
                await socket.ConnectAsync(context.DnsEndPoint, cancellationToken);
                return new NetworkStream(socket, ownsSocket: true);
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        },
    })
    { Timeout = TimeSpan.FromSeconds(60) };
}
