using System.Net;
using System.Net.Http;
using System.Net.Sockets;
using Warren.Agent;
using Warren.Configuration;
using Warren.Demo;
using Warren.Edge.Routing;
using Warren.Protocol.Framing;
using Warren.Protocol.Session;
using Warren.Protocol.Streams;
using Warren.Protocol.Transport;
using Warren.Protocol.Tunnel;
using Warren.SecurityTests.Harness;
using Xunit.Abstractions;

namespace Warren.SecurityTests;

/// <summary>What an authenticated agent may publish and open: grants, ownership, per-stream checks (docs/security.md).</summary>
public sealed class OwnershipTests(ITestOutputHelper output) : SecurityTest(output)
{
    [Fact]
    public async Task Hostname_or_port_outside_the_grant_is_refused_with_a_reason_and_the_rest_still_registers()
    {
        var token = WarrenHarness.NewToken();
        var portsOnly = WarrenHarness.NewToken();
        var edge = await StartEdgeAsync(new HarnessOptions
        {
            ExtraTokens =
            [
                new EdgeTokenConfig { Name = "mixed", Token = token, AllowHosts = ["mixed.test"], AllowPorts = [40001] },
                new EdgeTokenConfig { Name = "ports-only", Token = portsOnly, AllowPorts = [40002] },
            ],
        });
        var transfer = await StartTransferAsync(edge);

        await edge.StartOtherAgentAsync(token, "mixed-agent",
        [
            edge.HttpService("inside", "mixed.test"),
            edge.HttpService("outside", "evil.test"),
            new ServiceConfig { Name = "tcp-outside", Port = 40003, Target = new Uri("tcp://127.0.0.1:1") },
        ]);
        await Log.WaitForAsync(Wait.DefaultTimeout, "[ServiceRefused]", "outside", "hostname evil.test is not granted to token 'mixed'");
        await Log.WaitForAsync(Wait.DefaultTimeout, "[ServiceRefused]", "tcp-outside", "port 40003 is not granted to token 'mixed'");
        Assert.Equal(HttpStatusCode.OK, (await GetAsync(edge, "mixed.test", "/echo")).Status);
        Assert.Equal(HttpStatusCode.NotFound, (await GetAsync(edge, "evil.test", "/echo")).Status);
        Assert.Null(edge.Edge.State.Routes.MatchPort(40003));

        // An empty host grant allows no hostname at all (only "*" allows every one).
        await using var raw = await ConnectRawAsync(edge);
        Assert.True((await raw.AuthenticateAsync(portsOnly))!.Ok);
        var result = Assert.Single(await raw.RegisterAsync(new ServiceRegistration { Name = "web", Kind = "http", Hostnames = ["anything.test"] }));
        Assert.False(result.Ok);
        Assert.Equal("hostname anything.test is not granted to token 'ports-only'", result.Error);

        await transfer.CompleteAsync();
        await AssertStillServesAsync(edge);
    }

    [Fact]
    public async Task Hostname_held_by_another_token_is_refused_and_never_evicted_while_the_same_token_shares_it()
    {
        var thiefToken = WarrenHarness.NewToken();
        var edge = await StartEdgeAsync(new HarnessOptions
        {
            // Granted the whole domain, good.test included: the grant allows the claim, ownership refuses it.
            ExtraTokens = [new EdgeTokenConfig { Name = "thief", Token = thiefToken, AllowHosts = ["*.test"] }],
        });
        var transfer = await StartTransferAsync(edge);

        // The thief's copy of good.test would answer 502 (nothing listens at its target): any request it won shows.
        var deadTarget = new ServiceConfig { Name = "stolen", Hostnames = [GoodHost], Target = new Uri("http://127.0.0.1:1") };
        await edge.StartOtherAgentAsync(thiefToken, "thief-agent", [deadTarget, edge.HttpService("own", "thief.test")]);
        await Log.WaitForAsync(Wait.DefaultTimeout, "[ServiceRefused]", "stolen", $"hostname {GoodHost} is owned by another token");

        var route = edge.Edge.State.Routes.MatchHttp(GoodHost, "/")!;
        Assert.Equal(GoodTokenName, route.Owner);
        Assert.All(route.Sessions, s => Assert.Equal(GoodTokenName, s.TokenName));
        Assert.Equal(HttpStatusCode.OK, (await GetAsync(edge, "thief.test", "/echo")).Status); // its other service registered
        for (var i = 0; i < 5; i++)
        {
            await AssertStillServesAsync(edge);
        }

        // A second session of the owning token joins the hostname instead (failover, load spreading).
        await edge.StartOtherAgentAsync(edge.Token, "good-agent-2", [edge.HttpService("web", GoodHost)]);
        Assert.Equal(2, edge.Edge.State.Routes.MatchHttp(GoodHost, "/")!.Sessions.Length);

        await transfer.CompleteAsync();
        await AssertStillServesAsync(edge);
    }

    [Fact]
    public async Task Edge_refuses_to_open_a_stream_for_a_service_the_session_never_registered()
    {
        var edge = await StartEdgeAsync(new HarnessOptions
        {
            ExtraTokens = [new EdgeTokenConfig { Name = "other", Token = WarrenHarness.NewToken(), AllowHosts = ["other.test"] }],
        });
        var transfer = await StartTransferAsync(edge);
        var session = Assert.Single(edge.Edge.State.Sessions);
        var registered = Assert.Single(session.Services);
        var opened = session.Mux.Counters.StreamsOpened;

        var ghost = new ServiceEntry(99_999, GoodTokenName, new ServiceRegistration { Name = "ghost", Kind = "http", Hostnames = ["ghost.test"] });
        var twin = new ServiceEntry(99_998, "other", registered.Registration); // same name and hostnames, another owner
        foreach (var foreign in new[] { ghost, twin })
        {
            var error = await Assert.ThrowsAsync<InvalidOperationException>(async () => await session.OpenAsync(foreign, StreamKind.Http, "203.0.113.9:1234", CancellationToken.None));
            Assert.Contains($"does not serve {foreign.Name}", error.Message, StringComparison.Ordinal);
        }
        Assert.Equal(opened, session.Mux.Counters.StreamsOpened); // refused before anything went on the wire
        Assert.DoesNotContain(Log.Lines, l => l.Contains("[UnknownService]", StringComparison.Ordinal));

        await transfer.CompleteAsync();
        await AssertStillServesAsync(edge);
    }

    [Fact]
    public async Task Agent_opened_stream_after_login_is_refused()
    {
        var edge = await StartEdgeAsync();
        var transfer = await StartTransferAsync(edge);

        await using var raw = await ConnectRawAsync(edge);
        Assert.True((await raw.AuthenticateAsync(edge.Token, "sneaky"))!.Ok);
        using var cts = new CancellationTokenSource(Wait.DefaultTimeout);
        foreach (var kind in new[] { StreamKind.Http, StreamKind.Tcp, StreamKind.Control })
        {
            var refused = await Assert.ThrowsAsync<StreamAbortedException>(async () =>
                await raw.Session.OpenStreamAsync(new StreamOpenRequest(kind, "web", "").Encode(), cts.Token));
            Assert.Equal(ErrorCode.RefusedStream, refused.Code);
            Assert.True(refused.ByPeer);
        }

        await transfer.CompleteAsync();
        await AssertStillServesAsync(edge);
    }
}

/// <summary>
/// The agent side of the per-stream check, driven by a hand-made edge (a bare multiplexer server): a stream naming a
/// service the agent does not have is reset with UNKNOWN_SERVICE, the agent never dials anything the wire names.
/// </summary>
public sealed class AgentStreamCheckTests(ITestOutputHelper output) : SecurityTest(output)
{
    [Fact]
    public async Task Agent_resets_a_stream_naming_a_service_it_does_not_serve()
    {
        var backend = Own(await SampleHttpService.StartAsync());
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        var agent = new WarrenAgent(ConfigLoader.ValidateAgent(new AgentConfig
        {
            Edge = $"127.0.0.1:{port}",
            Token = WarrenHarness.NewToken(),
            Insecure = true, // the hand-made edge speaks plain TCP; TLS is not what this test is about
            Name = "target-agent",
            Services =
            [
                new ServiceConfig { Name = "web", Hostnames = ["web.test"], Target = new Uri($"http://127.0.0.1:{backend.Port}") },
                new ServiceConfig { Name = "ssh", Port = 2222, Target = new Uri("tcp://127.0.0.1:1") },
            ],
        }), Log.Factory);
        Own(agent);
        agent.Start();

        using var socket = await listener.AcceptSocketAsync().WaitAsync(Wait.DefaultTimeout);
        await using var network = new NetworkStream(socket, ownsSocket: false);
        var edge = await MuxSession.StartAsync(StreamTransport.Create(network), SessionRole.Server, new SessionOptions(), Log.Factory.CreateLogger("fake-edge"), abortTransport: socket.Dispose, name: "fake-edge");
        await using var _ = edge;
        await ServeLoginAsync(edge);
        await Wait.UntilAsync(() => agent.ConnectedSessions == 1, "the agent to finish its login", Wait.DefaultTimeout);

        // A legitimate HTTP exchange over the same session, through streams naming the registered service.
        using var client = new HttpClient(new SocketsHttpHandler
        {
            ConnectCallback = async (_, ct) => await edge.OpenStreamAsync(new StreamOpenRequest(StreamKind.Http, "web", "198.51.100.1:1000").Encode(), ct),
        });
        var transfer = await PacedDownload.StartAsync(client, new Uri("http://web.test/bytes/5242880"), "web.test");

        using var cts = new CancellationTokenSource(Wait.DefaultTimeout);
        var attacks = new (StreamKind Kind, string Service)[]
        {
            (StreamKind.Http, "ghost"),          // not configured at all
            (StreamKind.Http, "127.0.0.1:22"),   // an address is never a service name
            (StreamKind.Tcp, "web"),             // configured, but not as a TCP service
            (StreamKind.Http, "ssh"),            // configured, but not as an HTTP service
            (StreamKind.Control, ""),            // the control stream only ever goes agent -> edge
        };
        foreach (var (kind, service) in attacks)
        {
            var reset = await Assert.ThrowsAsync<StreamAbortedException>(async () =>
                await edge.OpenStreamAsync(new StreamOpenRequest(kind, service, "203.0.113.9:4444").Encode(), cts.Token));
            Assert.Equal(ErrorCode.UnknownService, reset.Code);
        }
        await Log.WaitForAsync(Wait.DefaultTimeout, "[UnknownService]", "'ghost'");
        Assert.DoesNotContain(Log.Lines, l => l.Contains("[DialFailed]", StringComparison.Ordinal));

        await transfer.CompleteAsync();
    }

    /// <summary>Plays the edge's side of docs/protocol.md §10.2: accept the control stream, accept any token, accept every service.</summary>
    private static async Task ServeLoginAsync(MuxSession edge)
    {
        using var cts = new CancellationTokenSource(Wait.DefaultTimeout);
        var stream = await edge.AcceptStreamAsync(cts.Token);
        Assert.Equal(StreamKind.Control, StreamOpenRequest.Decode(stream.Metadata.Span).Kind);
        stream.Accept();
        var control = new ControlChannel(stream);
        Assert.Equal(ControlMessage.Auth, (await control.ReceiveAsync(cts.Token))?.Type);
        await control.SendAsync(new ControlMessage { Type = ControlMessage.AuthResult, Ok = true, Session = "1" }, cts.Token);
        var register = await control.ReceiveAsync(cts.Token);
        await control.SendAsync(new ControlMessage
        {
            Type = ControlMessage.RegisterResult,
            Results = [.. register!.Services!.Select(s => new RegistrationResult { Name = s.Name, Ok = true })],
        }, cts.Token);
    }
}
