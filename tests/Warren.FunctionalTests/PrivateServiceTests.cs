using System.Net;
using System.Net.Sockets;
using System.Text;
using Warren.Agent.Connect;
using Warren.Configuration;
using Warren.Testing.Backends;
using Xunit.Abstractions;

namespace Warren.FunctionalTests;

/// <summary>
/// Private services and <c>warren connect</c> (docs/operations.md, "Private services"; docs/protocol.md §10.4): a
/// service published with <c>private: true</c> is on no public listener, and a <see cref="ConnectClient"/> with a token
/// granted it (<c>allow_connect</c>) carries local connections to it over its own session, through the edge.
/// </summary>
public sealed class PrivateServiceTests(ITestOutputHelper output) : LoggedTest(output)
{
    private readonly string _laptopToken = WarrenHarness.NewToken();
    private readonly string _strangerToken = WarrenHarness.NewToken();

    /// <summary>A harness whose agent (token "tests", allowed to publish private services) publishes <paramref name="services"/>.</summary>
    private static readonly string AdminToken = WarrenHarness.NewToken();

    private async Task<WarrenHarness> StartAsync(Func<WarrenHarness, IReadOnlyList<ServiceConfig>> services, EdgeLimitsConfig? limits = null, GraceConfig? grace = null) =>
        Own(await WarrenHarness.StartAsync(Log, new HarnessOptions
        {
            Services = services,
            Limits = limits ?? new EdgeLimitsConfig(),
            ExtraTokens =
            [
                new EdgeTokenConfig { Name = "laptop", Token = _laptopToken, AllowConnect = ["echo", "sink"] },
                new EdgeTokenConfig { Name = "stranger", Token = _strangerToken, AllowHosts = ["stranger.test"] },
            ],
            ConfigureEdge = c => c with
            {
                AdminToken = AdminToken,
                Tokens = [.. c.Tokens.Select(t => t.Name == "tests" ? t with { AllowPrivate = ["echo", "sink"] } : t)],
                Grace = grace ?? c.Grace,
            },
        }));

    private static ServiceConfig Private(string name, int port) => new() { Name = name, Target = new Uri($"tcp://127.0.0.1:{port}"), Private = true };

    private async Task<ConnectClient> ConnectAsync(WarrenHarness harness, string token, string service, ConnectClientOptions? options = null)
    {
        var client = new ConnectClient(new AgentConfig
        {
            Edge = $"127.0.0.1:{harness.Edge.AgentsPort}",
            Token = token,
            EdgeFingerprint = harness.Fingerprint,
            Name = "laptop",
        }, service, new IPEndPoint(IPAddress.Loopback, 0), Log.Factory, options);
        Own(client);
        await client.StartAsync(CancellationToken.None);
        return client;
    }

    private static async Task<Socket> DialAsync(ConnectClient client, CancellationToken cancellationToken)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(client.LocalEndPoint!, cancellationToken);
        return socket;
    }

    [Fact]
    public async Task Connect_carries_a_TCP_echo_to_a_private_service_byte_exact_with_half_close_counted_as_TCP()
    {
        const int size = 4 * 1024 * 1024;
        var harness = await StartAsync(h => [Private("echo", h.TcpEcho.Port)]);
        var client = await ConnectAsync(harness, _laptopToken, "echo");
        using var timeout = new CancellationTokenSource(TestTimeout);
        using var socket = await DialAsync(client, timeout.Token);

        var sender = Task.Run(async () =>
        {
            var source = new GeneratorStream(size);
            var chunk = new byte[64 * 1024];
            int n;
            while ((n = source.Read(chunk)) > 0)
            {
                await socket.SendAsync(chunk.AsMemory(0, n), SocketFlags.None, timeout.Token);
            }
            socket.Shutdown(SocketShutdown.Send); // half-close: the echo finishes, then ends its side
        });
        var expected = new GeneratorStream(size);
        var buffer = new byte[64 * 1024];
        var compare = new byte[64 * 1024];
        long received = 0;
        int read;
        while ((read = await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token)) > 0)
        {
            expected.ReadExactly(compare, 0, read);
            Assert.True(buffer.AsSpan(0, read).SequenceEqual(compare.AsSpan(0, read)), $"bytes differ near offset {received}");
            received += read;
        }
        await sender;
        Assert.Equal(size, received);

        // Counted and logged as a TCP connection of the private service (docs/observability.md).
        await Wait.UntilAsync(async () => await harness.MetricAsync("warren_service_tcp_connections_total", "service=\"echo\"") >= 1,
            "the connect stream to be counted as a TCP connection of echo");
        Assert.Equal(0, await harness.MetricAsync("warren_service_errors_total", "service=\"echo\""));
    }

    [Fact]
    public async Task A_connect_connection_made_while_the_publishing_agent_restarts_waits_in_the_grace_queue_and_is_served()
    {
        // docs/operations.md, "The grace queue": connect streams wait for the agent as public TCP connections do.
        var harness = await StartAsync(h => [Private("echo", h.TcpEcho.Port)], grace: new GraceConfig { Timeout = TimeSpan.FromSeconds(60) });
        var client = await ConnectAsync(harness, _laptopToken, "echo");
        using var timeout = new CancellationTokenSource(TestTimeout);
        using (var before = await DialAsync(client, timeout.Token))
        {
            await EchoAsync(before, "before", timeout.Token);
        }

        await harness.StopAgentAsync();
        await Wait.UntilAsync(() => harness.Edge.State.Routes.MatchPrivate("echo") is { Sessions.IsEmpty: true }, "the edge saw the agent leave");
        using var during = await DialAsync(client, timeout.Token);
        var echoed = EchoAsync(during, "made while no agent was up", timeout.Token);
        await harness.StartAgentAsync();

        await echoed; // the echo came back whole
        Assert.True(await harness.MetricAsync("warren_service_grace_waits_total", "service=\"echo\"", "outcome=\"served\"") > 0,
            "the connect stream waited in the grace queue and was served");
    }

    [Fact]
    public async Task A_connect_stream_reaching_an_edge_that_handed_over_is_opened_again_on_the_clients_next_session()
    {
        // docs/operations.md, "Upgrading the edge": a stream that reaches the old edge after the handover, before the
        // client's session there had its GOAWAY, is refused unprocessed with the GOAWAY first, and the client opens it
        // again on its next session. In an upgrade that session is at the new edge; here it is at this same edge,
        // still handed over, so each retry is refused the same way until the client gives up and resets.
        var harness = await StartAsync(h => [Private("echo", h.TcpEcho.Port)]);
        var client = await ConnectAsync(harness, _laptopToken, "echo");
        using var timeout = new CancellationTokenSource(TestTimeout);
        using (var before = await DialAsync(client, timeout.Token))
        {
            await EchoAsync(before, "before", timeout.Token);
        }

        harness.Edge.State.Routes.HandOver();
        using var after = await DialAsync(client, timeout.Token);
        await after.SendAsync("after"u8.ToArray(), SocketFlags.None, timeout.Token);
        var reset = await Assert.ThrowsAsync<SocketException>(async () => await after.ReceiveAsync(new byte[16], SocketFlags.None, timeout.Token));

        Assert.Equal(SocketError.ConnectionReset, reset.SocketErrorCode);
        Assert.True(Log.Matching("[ConnectHandedOver]").Count >= 2, "the stream was opened again on another session:\n" + string.Join("\n", Log.Matching("Connect")));
        Assert.Single(Log.Matching("[ConnectStreamRefused]"));
    }

    [Fact]
    public async Task A_private_service_answers_on_no_public_listener()
    {
        var harness = await StartAsync(h => [Private("echo", h.TcpEcho.Port), h.HttpService("app", WarrenHarness.AppHost)]);
        using var timeout = new CancellationTokenSource(TestTimeout);

        Assert.Empty(harness.Edge.TcpPorts); // no TCP port was opened for it
        Assert.True(harness.Edge.State.Routes.MatchPrivate("echo") is { Registration.Private: true, Registration.Port: null });
        foreach (var host in new[] { "echo", "echo.test", "127.0.0.1" })
        {
            using var response = await harness.GetAsync("/", host, timeout.Token);
            Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        }
        // It is registered and reachable, only not publicly.
        var client = await ConnectAsync(harness, _laptopToken, "echo");
        using var socket = await DialAsync(client, timeout.Token);
        await socket.SendAsync("ping"u8.ToArray(), SocketFlags.None, timeout.Token);
        var answer = new byte[4];
        var got = 0;
        while (got < 4)
        {
            got += await socket.ReceiveAsync(answer.AsMemory(got), SocketFlags.None, timeout.Token);
        }
        Assert.Equal("ping", Encoding.ASCII.GetString(answer));
    }

    [Fact]
    public async Task Without_the_grant_connect_is_refused_with_a_clear_error_and_logged_at_the_edge()
    {
        var harness = await StartAsync(h => [Private("echo", h.TcpEcho.Port)]);

        var refused = await Assert.ThrowsAsync<ConnectRefusedException>(() => ConnectAsync(harness, _strangerToken, "echo"));
        Assert.Contains("token 'stranger' is not granted private service 'echo' (allow_connect)", refused.Message, StringComparison.Ordinal);
        await Log.WaitForAsync(TimeSpan.FromSeconds(30), "warren connect from", "token 'stranger'", "refused", "not granted private service 'echo'");
        Assert.Equal(1, harness.Edge.SessionCount); // only the agent's session: a refused connect never joins

        // A granted token, for a service it is not granted, is refused the same way.
        var other = await Assert.ThrowsAsync<ConnectRefusedException>(() => ConnectAsync(harness, _laptopToken, "db"));
        Assert.Contains("not granted private service 'db'", other.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_agent_token_without_allow_private_cannot_publish_a_private_service()
    {
        var harness = Own(await WarrenHarness.StartAsync(Log, new HarnessOptions { StartAgent = false }));
        var agent = await harness.StartOtherAgentAsync(harness.Token, "squatter", [Private("echo", harness.TcpEcho.Port)]);
        await Log.WaitForAsync(TimeSpan.FromSeconds(30), "private service echo is not granted to token 'tests' (allow_private)");
        Assert.Null(harness.Edge.State.Routes.MatchPrivate("echo"));
        await agent.DisposeAsync();
    }

    [Fact]
    public async Task Tokens_made_with_warren_token_and_the_admin_api_carry_the_connect_grant()
    {
        var harness = await StartAsync(h => [Private("echo", h.TcpEcho.Port)]);
        using var timeout = new CancellationTokenSource(TestTimeout);

        // The admin API: allow_connect names services, checked as service names.
        using (var bad = await AdminPostAsync(harness, """{"name":"api-laptop","allow_connect":["Not A Name"]}"""))
        {
            Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
            Assert.Contains("allow_connect", await bad.Content.ReadAsStringAsync(timeout.Token), StringComparison.Ordinal);
        }
        string apiSecret;
        using (var created = await AdminPostAsync(harness, """{"name":"api-laptop","allow_connect":["echo"]}"""))
        {
            Assert.Equal(HttpStatusCode.Created, created.StatusCode);
            apiSecret = System.Text.Json.JsonDocument.Parse(await created.Content.ReadAsStringAsync(timeout.Token)).RootElement.GetProperty("token").GetString()!;
        }
        using (var viaApi = await DialAsync(await ConnectAsync(harness, apiSecret, "echo"), timeout.Token))
        {
            await EchoAsync(viaApi, "api", timeout.Token);
        }

        // warren token create --allow-connect, into the running edge's store (re-read every 2 s).
        var create = await WarrenProcess.RunAsync(["token", "create", "--data", harness.DataDirectory, "--name", "cli-laptop", "--allow-connect", "echo"], Log);
        Assert.Equal(0, create.ExitCode);
        var cliSecret = create.StandardOutput.Trim();
        await Wait.UntilAsync(() => harness.Edge.Tokens.Grants.Any(g => g.Name == "cli-laptop"), "the edge to read the new token");
        using (var viaCli = await DialAsync(await ConnectAsync(harness, cliSecret, "echo"), timeout.Token))
        {
            await EchoAsync(viaCli, "cli", timeout.Token);
        }
        var list = await WarrenProcess.RunAsync(["token", "list", "--data", harness.DataDirectory], Log);
        Assert.Contains("connect:echo", list.StandardOutput, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_private_services_policy_refuses_a_denied_connect_client_and_a_revoke_ends_the_client()
    {
        var harness = await StartAsync(h =>
        [
            Private("echo", h.TcpEcho.Port) with { Policy = new PolicyConfig { Ip = new() { Deny = ["127.0.0.0/8"] } } },
            Private("sink", h.TcpEcho.Port),
        ]);
        using var timeout = new CancellationTokenSource(TestTimeout);

        // ip deny of the service's policy: the connection is refused (reset) before any byte, counted as policy_denied.
        var denied = await ConnectAsync(harness, _laptopToken, "echo");
        var ended = await Record.ExceptionAsync(async () =>
        {
            // The reset can come before the dial or the send completes, on a loaded machine.
            using var socket = await DialAsync(denied, timeout.Token);
            await socket.SendAsync("hello"u8.ToArray(), SocketFlags.None, timeout.Token);
            Assert.Equal(0, await socket.ReceiveAsync(new byte[16], SocketFlags.None, timeout.Token));
        });
        Assert.True(ended is null or SocketException { SocketErrorCode: SocketError.ConnectionReset }, $"the denied connection ended with {ended}");
        await Log.WaitForAsync(TimeSpan.FromSeconds(30), "Local connection to echo reset", "the edge refused it");
        Assert.Equal(1, await harness.MetricAsync("warren_service_errors_total", "service=\"echo\"", "kind=\"policy_denied\""));

        // A revoked token: its connect session is closed at once, and the client, refused at its next login, ends.
        string secret;
        using (var created = await AdminPostAsync(harness, """{"name":"short-lived","allow_connect":["sink"]}"""))
        {
            secret = System.Text.Json.JsonDocument.Parse(await created.Content.ReadAsStringAsync(timeout.Token)).RootElement.GetProperty("token").GetString()!;
        }
        var client = await ConnectAsync(harness, secret, "sink");
        using (var revoke = new HttpRequestMessage(HttpMethod.Delete, $"http://127.0.0.1:{harness.Edge.AdminPort}/api/tokens/short-lived"))
        {
            revoke.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", AdminToken);
            using var revoked = await harness.Client.SendAsync(revoke, timeout.Token);
            Assert.Equal(HttpStatusCode.NoContent, revoked.StatusCode);
        }
        var refused = await Assert.ThrowsAsync<ConnectRefusedException>(() => client.Completion.WaitAsync(TimeSpan.FromSeconds(60)));
        Assert.Contains("invalid token", refused.Message, StringComparison.Ordinal);
    }

    private static async Task<HttpResponseMessage> AdminPostAsync(WarrenHarness harness, string json)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, $"http://127.0.0.1:{harness.Edge.AdminPort}/api/tokens")
        {
            Content = new StringContent(json, Encoding.UTF8, "application/json"),
        };
        request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", AdminToken);
        return await harness.Client.SendAsync(request);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_connect_clients_reset_or_close_reaches_the_backend(bool reset)
    {
        var backendSaw = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var backend = BackendTcpServer.Start(async (socket, cancellationToken) =>
        {
            var buffer = new byte[1024];
            try
            {
                while (await socket.ReceiveAsync(buffer, SocketFlags.None, cancellationToken) > 0)
                {
                }
                backendSaw.TrySetResult("end of stream");
            }
            catch (SocketException ex)
            {
                backendSaw.TrySetResult(ex.SocketErrorCode.ToString());
            }
        });
        var harness = await StartAsync(_ => [Private("sink", backend.Port)]);
        var client = await ConnectAsync(harness, _laptopToken, "sink");
        using var timeout = new CancellationTokenSource(TestTimeout);
        var socket = await DialAsync(client, timeout.Token);
        await socket.SendAsync("hello"u8.ToArray(), SocketFlags.None, timeout.Token);
        await Wait.UntilAsync(() => backend.Accepted == 1, "the agent to connect to the backend");
        if (reset)
        {
            socket.LingerState = new LingerOption(true, 0); // close with an RST
        }
        socket.Dispose();

        var seen = await backendSaw.Task.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(reset ? nameof(SocketError.ConnectionReset) : "end of stream", seen);
        // The edge says which side reset first, even with the access log off; a clean close is no reset.
        if (reset)
        {
            await Wait.UntilAsync(() => Log.Matching("[ConnectSpliceReset]", "connection to sink reset, first by the client's side").Count == 1,
                "the edge to log the client's reset");
        }
        else
        {
            Assert.Empty(Log.Matching("[ConnectSpliceReset]"));
        }
    }

    [Fact]
    public async Task Connect_streams_beyond_the_sessions_limit_are_refused_and_the_others_go_on()
    {
        var harness = await StartAsync(h => [Private("echo", h.TcpEcho.Port)], new EdgeLimitsConfig { MaxConnectStreamsPerSession = 2 });
        var client = await ConnectAsync(harness, _laptopToken, "echo");
        using var timeout = new CancellationTokenSource(TestTimeout);
        using var first = await DialAsync(client, timeout.Token);
        using var second = await DialAsync(client, timeout.Token);
        foreach (var socket in new[] { first, second })
        {
            await EchoAsync(socket, "held", timeout.Token);
        }

        var buffer = new byte[16];
        var ended = await Record.ExceptionAsync(async () =>
        {
            // The refusal resets the local connection at once: on a loaded machine, before the dial itself completes.
            using var third = await DialAsync(client, timeout.Token);
            var n = await third.ReceiveAsync(buffer, SocketFlags.None, timeout.Token);
            Assert.Equal(0, n);
        });
        Assert.True(ended is null or SocketException { SocketErrorCode: SocketError.ConnectionReset }, $"the third connection ended with {ended}");
        await Log.WaitForAsync(TimeSpan.FromSeconds(30), "stream refused", "limits.max_connect_streams_per_session");

        await EchoAsync(first, "still", timeout.Token); // the held ones are untouched
        first.Dispose();
        await Wait.UntilAsync(async () => await harness.MetricAsync("warren_service_tcp_connections_open", "service=\"echo\"") <= 1,
            "the first stream's place to be free again");
        // The session's count drops as the first stream is disposed, a moment after the service's: a dial in between
        // is still refused, so the fourth may take a second try.
        await Wait.UntilAsync(async () => await TryEchoAsync(client, "again", timeout.Token), "a fourth stream to be served");
    }

    /// <summary>Dials, sends <paramref name="text"/> and reads it back; false when the connection was refused (reset or ended).</summary>
    private static async Task<bool> TryEchoAsync(ConnectClient client, string text, CancellationToken cancellationToken)
    {
        try
        {
            using var socket = await DialAsync(client, cancellationToken);
            var bytes = Encoding.ASCII.GetBytes(text);
            await socket.SendAsync(bytes, SocketFlags.None, cancellationToken);
            var answer = new byte[bytes.Length];
            var got = 0;
            while (got < answer.Length && await socket.ReceiveAsync(answer.AsMemory(got), SocketFlags.None, cancellationToken) is var n and > 0)
            {
                got += n;
            }
            return got == answer.Length && answer.AsSpan().SequenceEqual(bytes);
        }
        catch (SocketException ex) when (ex.SocketErrorCode == SocketError.ConnectionReset)
        {
            return false;
        }
    }

    private static async Task EchoAsync(Socket socket, string text, CancellationToken cancellationToken)
    {
        var bytes = Encoding.ASCII.GetBytes(text);
        await socket.SendAsync(bytes, SocketFlags.None, cancellationToken);
        var answer = new byte[bytes.Length];
        var got = 0;
        while (got < answer.Length)
        {
            var n = await socket.ReceiveAsync(answer.AsMemory(got), SocketFlags.None, cancellationToken);
            Assert.True(n > 0, "the echo ended early");
            got += n;
        }
        Assert.Equal(text, Encoding.ASCII.GetString(answer));
    }
}
