using System.Net;
using System.Net.Http;
using System.Net.Sockets;
using System.Text.Json;
using Warren.Configuration;
using Xunit.Abstractions;

namespace Warren.PolicyTests;

/// <summary>
/// The abuse shield (docs/policy.md, "Abuse shield"): an address that fails authentication or trips limits past
/// edge.yaml's shield thresholds is banned edge-wide (HTTP and TCP), other addresses are not, the ban survives an
/// edge restart, and the admin API lists and lifts it. Clients are real sockets from 127.0.0.1 and 127.0.0.2.
/// </summary>
public sealed class AbuseShieldTests(ITestOutputHelper output) : PolicyTest(output)
{
    /// <summary>A second client address: all of 127.0.0.0/8 is loopback on Linux.</summary>
    private static readonly IPAddress Other = IPAddress.Parse("127.0.0.2");

    private static readonly PolicyConfig Password = new()
    {
        BasicAuth = new BasicAuthConfig { Users = [Htpasswd("alice", "correct horse")] },
    };

    private static Func<EdgeConfig, EdgeConfig> Shield(int authFailures = 5, int limitHits = 300) =>
        edge => edge with { Shield = new ShieldConfig { AuthFailures = authFailures, LimitHits = limitHits, Window = TimeSpan.FromMinutes(10), BanTime = TimeSpan.FromHours(1) } };

    [Fact]
    public async Task Auth_failures_past_the_threshold_ban_the_address_and_another_address_is_served()
    {
        var harness = await StartAsync(Password, Shield(authFailures: 5));
        using var other = ClientFrom(Other);

        for (var i = 0; i < 5; i++)
        {
            using var wrong = await SendAsync(harness, "/echo", r => r.Headers.Authorization = Basic("alice", $"guess {i}"));
            Assert.Equal(HttpStatusCode.Unauthorized, wrong.StatusCode);
        }
        // Banned now: even the right password gets 403, with how long the ban lasts.
        using var banned = await SendAsync(harness, "/echo", r => r.Headers.Authorization = Basic("alice", "correct horse"));
        Assert.Equal(HttpStatusCode.Forbidden, banned.StatusCode);
        Assert.InRange(banned.Headers.RetryAfter!.Delta!.Value, TimeSpan.FromSeconds(1), TimeSpan.FromHours(1));

        using var request = harness.Request(HttpMethod.Get, "/echo");
        request.Headers.Authorization = Basic("alice", "correct horse");
        using var served = await other.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, served.StatusCode);

        var bans = await BansAsync(harness);
        Assert.Equal("127.0.0.1", Assert.Single(bans).GetProperty("address").GetString());
        Assert.Equal(1, await harness.MetricAsync("warren_shield_bans_total", "reason=\"auth_failures\""));
        Assert.Contains(Log.Entries, e => e.EventName == "ShieldBanned" && e.Message.Contains("127.0.0.1", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_ban_survives_an_edge_restart_and_lifting_it_through_the_admin_api_lets_the_address_in_again()
    {
        // The guesses come from 127.0.0.2: a banned address's agents are refused too, and the test's agent is on 127.0.0.1.
        var harness = await StartAsync(Password, Shield(authFailures: 3));
        using var guesser = ClientFrom(Other);
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(HttpStatusCode.Unauthorized, await StatusAsync(guesser, harness, "wrong"));
        }
        // Banned: the next request on the same connection gets 403, and a new connection is refused at accept.
        Assert.Equal(HttpStatusCode.Forbidden, await StatusAsync(guesser, harness, "correct horse"));
        Assert.Null(await StatusAsync(guesser, harness, "correct horse"));

        await harness.StopEdgeAsync();
        await harness.StartEdgeAsync();
        await harness.WaitUntilServedAsync("app", TimeSpan.FromSeconds(60));
        Assert.Null(await StatusAsync(guesser, harness, "correct horse"));
        Assert.Equal("127.0.0.2", Assert.Single(await BansAsync(harness)).GetProperty("address").GetString());

        using var admin = new HttpClient();
        using (var lifted = await admin.DeleteAsync(new Uri($"http://127.0.0.1:{harness.Edge.AdminPort}/api/bans/127.0.0.2")))
        {
            Assert.Equal(HttpStatusCode.NoContent, lifted.StatusCode);
        }
        using (var again = await admin.DeleteAsync(new Uri($"http://127.0.0.1:{harness.Edge.AdminPort}/api/bans/127.0.0.2")))
        {
            Assert.Equal(HttpStatusCode.NotFound, again.StatusCode);
        }
        Assert.Equal(HttpStatusCode.OK, await StatusAsync(guesser, harness, "correct horse"));
        Assert.Empty(await BansAsync(harness));

        // The lift is in warren.db too: another restart does not bring the ban back.
        await harness.StopEdgeAsync();
        await harness.StartEdgeAsync();
        await harness.WaitUntilServedAsync("app", TimeSpan.FromSeconds(60));
        Assert.Equal(HttpStatusCode.OK, await StatusAsync(guesser, harness, "correct horse"));
    }

    /// <summary>GET /echo as alice with <paramref name="password"/> from <paramref name="client"/>; null when the edge refused the connection at accept.</summary>
    private static async Task<HttpStatusCode?> StatusAsync(HttpClient client, WarrenHarness harness, string password)
    {
        using var request = harness.Request(HttpMethod.Get, "/echo");
        request.Headers.Authorization = Basic("alice", password);
        try
        {
            using var response = await client.SendAsync(request);
            return response.StatusCode;
        }
        catch (Exception ex) when (IsRefusedAtAccept(ex))
        {
            return null;
        }
    }

    [Fact]
    public async Task Tcp_connection_limit_refusals_ban_the_address_and_its_connections_to_every_tcp_service_are_reset_at_accept()
    {
        var limited = ReservePort();
        var open = ReservePort();
        var harness = Own(await WarrenHarness.StartAsync(Log, new HarnessOptions
        {
            AllowPorts = [limited, open],
            Services = h =>
            [
                new ServiceConfig { Name = "limited", Port = limited, Target = new Uri($"tcp://127.0.0.1:{h.TcpEcho.Port}"), Policy = new PolicyConfig { MaxConnectionsPerIp = 1 } },
                new ServiceConfig { Name = "open", Port = open, Target = new Uri($"tcp://127.0.0.1:{h.TcpEcho.Port}") },
            ],
            ConfigureEdge = Shield(limitHits: 2),
        }));
        using (var before = await EchoAsync(IPAddress.Loopback, open))
        {
            Assert.Equal("ping\n", before.Echo);
        }

        using var held = await EchoAsync(IPAddress.Loopback, limited);
        Assert.Equal("ping\n", held.Echo);
        for (var i = 0; i < 2; i++)
        {
            using var refused = await EchoAsync(IPAddress.Loopback, limited);
            Assert.Null(refused.Echo);
        }

        // Banned: the service without any policy refuses 127.0.0.1 too, and serves 127.0.0.2.
        using (var banned = await EchoAsync(IPAddress.Loopback, open))
        {
            Assert.Null(banned.Echo);
        }
        using (var other = await EchoAsync(Other, open))
        {
            Assert.Equal("ping\n", other.Echo);
        }
        Assert.Equal("127.0.0.1", Assert.Single(await BansAsync(harness)).GetProperty("address").GetString());
        Assert.True(await harness.MetricAsync("warren_shield_refused_total", "kind=\"tcp\"") >= 1);
    }

    [Fact]
    public async Task A_ban_made_through_the_admin_api_refuses_that_address_only()
    {
        var harness = await StartAsync(null, Shield());
        using var admin = new HttpClient();
        using var ban = await admin.PostAsync(new Uri($"http://127.0.0.1:{harness.Edge.AdminPort}/api/bans"),
            new StringContent("""{"address": "127.0.0.2", "duration": "10m", "reason": "scanner"}""", System.Text.Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.Created, ban.StatusCode);
        using var bad = await admin.PostAsync(new Uri($"http://127.0.0.1:{harness.Edge.AdminPort}/api/bans"),
            new StringContent("""{"address": "not-an-ip"}""", System.Text.Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);

        using var other = ClientFrom(Other);
        Assert.Null(await StatusAsync(other, harness, "")); // refused at accept, before any HTTP
        Assert.Equal(1, await harness.MetricAsync("warren_shield_refused_total", "kind=\"connection\""));
        using var served = await SendAsync(harness, "/echo");
        Assert.Equal(HttpStatusCode.OK, served.StatusCode);
        var listed = Assert.Single(await BansAsync(harness));
        Assert.Equal("scanner", listed.GetProperty("reason").GetString());
    }

    /// <summary>
    /// A connection the edge closes at accept: HttpClient says so with an HttpRequestException, or, when the close
    /// came before it read the socket's remote address, with that read's SocketException ("not connected"), unwrapped.
    /// </summary>
    private static bool IsRefusedAtAccept(Exception ex) => ex is HttpRequestException or SocketException;

    [Fact]
    public async Task Under_load_a_client_past_its_rate_limit_gets_429_then_a_ban_and_is_refused_at_accept_while_another_client_is_always_served()
    {
        // 1,000 requests per client address, never refilled within the test; 200 refusals ban.
        const int burst = 1000, limitHits = 200;
        var harness = await StartAsync(new PolicyConfig { RateLimit = new RateLimitConfig { PerIp = new RateConfig { Requests = 1, Per = TimeSpan.FromHours(1), Burst = burst } } },
            Shield(limitHits: limitHits));
        var attacker = IPAddress.Parse("127.0.0.3");
        var limited = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var attackerDone = new CancellationTokenSource();
        var counts = new System.Collections.Concurrent.ConcurrentDictionary<HttpStatusCode, int>();

        // 8 parallel connections from 127.0.0.3, at most 300 requests each, each until the edge refuses its connection.
        async Task<bool> AttackAsync()
        {
            using var client = ClientFrom(attacker);
            for (var i = 0; i < 300; i++)
            {
                HttpResponseMessage response;
                try
                {
                    response = await client.SendAsync(harness.Request(HttpMethod.Get, "/echo"));
                }
                catch (Exception ex) when (IsRefusedAtAccept(ex))
                {
                    return true; // refused at accept: banned
                }
                using (response)
                {
                    counts.AddOrUpdate(response.StatusCode, 1, (_, n) => n + 1);
                    if (response.StatusCode is HttpStatusCode.TooManyRequests or HttpStatusCode.Forbidden)
                    {
                        Assert.True(response.Headers.RetryAfter?.Delta > TimeSpan.Zero, $"{(int)response.StatusCode} without Retry-After");
                        limited.TrySetResult();
                    }
                    else
                    {
                        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                    }
                }
            }
            return false;
        }

        // 2 connections from 127.0.0.2 at the same time, from the attacker's first 429 until it is banned, fewer
        // than its own burst: every request is served.
        async Task<int> UseAsync()
        {
            using var client = ClientFrom(Other);
            await limited.Task.WaitAsync(TimeSpan.FromSeconds(60));
            var served = 0;
            do
            {
                using var response = await client.SendAsync(harness.Request(HttpMethod.Get, "/echo"));
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                served++;
            }
            while (!attackerDone.IsCancellationRequested && served < burst / 4);
            return served;
        }

        var attacks = Enumerable.Range(0, 8).Select(_ => AttackAsync()).ToArray();
        var uses = Enumerable.Range(0, 2).Select(_ => UseAsync()).ToArray();
        var refusedAtAccept = await Task.WhenAll(attacks);
        await attackerDone.CancelAsync();
        var served = await Task.WhenAll(uses);
        Log.Note($"attacker: {string.Join(", ", counts.Select(c => $"{(int)c.Key}: {c.Value}"))}; other client served {served.Sum()}");

        Assert.Equal(burst, counts.GetValueOrDefault(HttpStatusCode.OK));
        Assert.True(counts.GetValueOrDefault(HttpStatusCode.TooManyRequests) >= limitHits, "fewer 429s than the shield's threshold");
        Assert.All(refusedAtAccept, Assert.True); // every attacking connection ended refused by the ban
        Assert.All(served, n => Assert.True(n > 0));
        Assert.Equal("127.0.0.3", Assert.Single(await BansAsync(harness)).GetProperty("address").GetString());
        Assert.Equal(1, await harness.MetricAsync("warren_shield_bans_total", "reason=\"limit_hits\""));
        Assert.True(await harness.MetricAsync("warren_shield_refused_total", "kind=\"connection\"") >= 8);
        using var after = await ClientFrom(Other).SendAsync(harness.Request(HttpMethod.Get, "/echo"));
        Assert.Equal(HttpStatusCode.OK, after.StatusCode);
    }

    [Fact]
    public async Task An_ipv6_client_is_counted_and_banned_by_its_64_behind_a_trusted_proxy_and_the_next_64_is_served()
    {
        // The test's client is a trusted proxy naming IPv6 clients in X-Forwarded-For (loopback has no IPv6 /64 of its own).
        var harness = await StartAsync(Password, edge => Shield(authFailures: 3)(edge) with { TrustedProxies = ["127.0.0.1"] });
        Task<HttpResponseMessage> From(string client, string password) =>
            SendAsync(harness, "/echo", r => { r.Headers.Authorization = Basic("alice", password); r.Headers.Add("X-Forwarded-For", client); });

        // Three failures from three addresses of one /64: one client.
        foreach (var client in new[] { "2001:db8:1:2::a", "2001:db8:1:2::b", "2001:db8:1:2:ffff:ffff:ffff:ffff" })
        {
            using var wrong = await From(client, "wrong");
            Assert.Equal(HttpStatusCode.Unauthorized, wrong.StatusCode);
        }
        using (var banned = await From("2001:db8:1:2::77", "correct horse"))
        {
            Assert.Equal(HttpStatusCode.Forbidden, banned.StatusCode);
        }
        using (var next64 = await From("2001:db8:1:3::a", "correct horse"))
        {
            Assert.Equal(HttpStatusCode.OK, next64.StatusCode);
        }
        // The proxy itself is never refused at accept: its other clients are judged one request at a time.
        using (var proxied = await From("192.0.2.7", "correct horse"))
        {
            Assert.Equal(HttpStatusCode.OK, proxied.StatusCode);
        }
        Assert.Equal("2001:db8:1:2::/64", Assert.Single(await BansAsync(harness)).GetProperty("address").GetString());

        // Lifting by any address inside the /64 lifts the /64's ban.
        using var admin = new HttpClient();
        using (var lifted = await admin.DeleteAsync(new Uri($"http://127.0.0.1:{harness.Edge.AdminPort}/api/bans/2001:db8:1:2::99")))
        {
            Assert.Equal(HttpStatusCode.NoContent, lifted.StatusCode);
        }
        using var served = await From("2001:db8:1:2::77", "correct horse");
        Assert.Equal(HttpStatusCode.OK, served.StatusCode);

        // A CIDR banned by hand is kept as written and lifted by its CIDR, escaped as `warren bans lift` sends it.
        using (var ban = await admin.PostAsync(new Uri($"http://127.0.0.1:{harness.Edge.AdminPort}/api/bans"),
            new StringContent("""{"address": "2001:db8:5::/48"}""", System.Text.Encoding.UTF8, "application/json")))
        {
            Assert.Equal(HttpStatusCode.Created, ban.StatusCode);
        }
        using (var inside = await From("2001:db8:5:ff::1", "correct horse"))
        {
            Assert.Equal(HttpStatusCode.Forbidden, inside.StatusCode);
        }
        Assert.Equal("2001:db8:5::/48", Assert.Single(await BansAsync(harness)).GetProperty("address").GetString());
        using (var lifted = await admin.DeleteAsync(new Uri($"http://127.0.0.1:{harness.Edge.AdminPort}/api/bans/{Uri.EscapeDataString("2001:db8:5::/48")}")))
        {
            Assert.Equal(HttpStatusCode.NoContent, lifted.StatusCode);
        }
        Assert.Empty(await BansAsync(harness));
    }

    private static async Task<JsonElement[]> BansAsync(WarrenHarness harness)
    {
        using var admin = new HttpClient();
        var body = await admin.GetStringAsync(new Uri($"http://127.0.0.1:{harness.Edge.AdminPort}/api/bans"));
        return [.. JsonDocument.Parse(body).RootElement.EnumerateArray().Select(e => e.Clone())];
    }

    /// <summary>An HTTP client whose connections come from <paramref name="source"/>.</summary>
    private static HttpClient ClientFrom(IPAddress source) => new(new SocketsHttpHandler
    {
        UseProxy = false,
        ConnectCallback = async (context, cancellationToken) =>
        {
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
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
    });

    private sealed record Connection(Socket Socket, string? Echo) : IDisposable
    {
        public void Dispose() => Socket.Dispose();
    }

    /// <summary>Connects from <paramref name="source"/>, sends a line and reads the echo; null when the edge closed or reset the connection.</summary>
    private static async Task<Connection> EchoAsync(IPAddress source, int port)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            socket.Bind(new IPEndPoint(source, 0));
            await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port), timeout.Token);
            await socket.SendAsync("ping\n"u8.ToArray(), SocketFlags.None, timeout.Token);
            var buffer = new byte[16];
            var read = await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token);
            return new Connection(socket, read == 0 ? null : System.Text.Encoding.ASCII.GetString(buffer, 0, read));
        }
        catch (SocketException)
        {
            return new Connection(socket, null);
        }
    }
}
