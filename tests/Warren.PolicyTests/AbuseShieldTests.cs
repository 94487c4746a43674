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
        var harness = await StartAsync(Password, Shield(authFailures: 3));
        for (var i = 0; i < 3; i++)
        {
            using var wrong = await SendAsync(harness, "/echo", r => r.Headers.Authorization = Basic("alice", "wrong"));
            Assert.Equal(HttpStatusCode.Unauthorized, wrong.StatusCode);
        }
        using (var banned = await SendAsync(harness, "/echo", r => r.Headers.Authorization = Basic("alice", "correct horse")))
        {
            Assert.Equal(HttpStatusCode.Forbidden, banned.StatusCode);
        }

        await harness.StopEdgeAsync();
        await harness.StartEdgeAsync();
        await harness.WaitUntilServedAsync("app", TimeSpan.FromSeconds(60));
        using (var stillBanned = await SendAsync(harness, "/echo", r => r.Headers.Authorization = Basic("alice", "correct horse")))
        {
            Assert.Equal(HttpStatusCode.Forbidden, stillBanned.StatusCode);
        }
        Assert.Equal("127.0.0.1", Assert.Single(await BansAsync(harness)).GetProperty("address").GetString());

        using var admin = new HttpClient();
        using (var lifted = await admin.DeleteAsync(new Uri($"http://127.0.0.1:{harness.Edge.AdminPort}/api/bans/127.0.0.1")))
        {
            Assert.Equal(HttpStatusCode.NoContent, lifted.StatusCode);
        }
        using (var again = await admin.DeleteAsync(new Uri($"http://127.0.0.1:{harness.Edge.AdminPort}/api/bans/127.0.0.1")))
        {
            Assert.Equal(HttpStatusCode.NotFound, again.StatusCode);
        }
        using (var served = await SendAsync(harness, "/echo", r => r.Headers.Authorization = Basic("alice", "correct horse")))
        {
            Assert.Equal(HttpStatusCode.OK, served.StatusCode);
        }
        Assert.Empty(await BansAsync(harness));

        // The lift is in warren.db too: another restart does not bring the ban back.
        await harness.StopEdgeAsync();
        await harness.StartEdgeAsync();
        await harness.WaitUntilServedAsync("app", TimeSpan.FromSeconds(60));
        using var afterRestart = await SendAsync(harness, "/echo", r => r.Headers.Authorization = Basic("alice", "correct horse"));
        Assert.Equal(HttpStatusCode.OK, afterRestart.StatusCode);
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
        using var refused = await other.SendAsync(harness.Request(HttpMethod.Get, "/echo"));
        Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
        using var served = await SendAsync(harness, "/echo");
        Assert.Equal(HttpStatusCode.OK, served.StatusCode);
        var listed = Assert.Single(await BansAsync(harness));
        Assert.Equal("scanner", listed.GetProperty("reason").GetString());
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
