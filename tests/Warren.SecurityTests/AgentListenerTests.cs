using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using Warren.Configuration;
using Warren.Protocol.Tunnel;
using Warren.SecurityTests.Harness;
using Xunit.Abstractions;

namespace Warren.SecurityTests;

/// <summary>
/// The agents listener under attack from one address (docs/security.md "The agent link"): a per-IP connection cap,
/// a login limit that counts logins in progress, and refusal before the TLS handshake.
/// </summary>
public sealed class AgentListenerTests(ITestOutputHelper output) : SecurityTest(output)
{
    private static readonly IPAddress Attacker = IPAddress.Parse("127.0.0.2");

    [Fact]
    public async Task Silent_connections_from_one_address_are_capped_while_another_agent_logs_in()
    {
        // The login limit is lifted so that the connection cap alone is measured: of 100 silent connections, 64 are kept.
        var cap = new EdgeLimitsConfig().MaxAgentConnectionsPerIp;
        var lateToken = WarrenHarness.NewToken();
        var edge = await StartEdgeAsync(new HarnessOptions
        {
            Limits = new EdgeLimitsConfig { MaxAuthFailuresPerIp = 1000 },
            ExtraTokens = [WarrenHarness.Grant("late", lateToken, ["late.test"])],
        });
        var transfer = await StartTransferAsync(edge);
        var silent = new List<Socket>();
        try
        {
            for (var i = 0; i < 100; i++)
            {
                if (await RawHttp.TryConnectAsync(edge.Edge.AgentsPort, Attacker) is { } socket)
                {
                    silent.Add(socket);
                }
            }
            await Wait.UntilAsync(async () => await edge.MetricAsync("warren_edge_connections_rejected_total", "reason=\"agent_per_ip_limit\"") >= 100 - cap,
                $"the edge to close the {100 - cap} connections over the cap at accept", TimeSpan.FromSeconds(30));
            Assert.Equal(100 - cap, await edge.MetricAsync("warren_edge_connections_rejected_total", "reason=\"agent_per_ip_limit\""));

            // Meanwhile an agent from another address (127.0.0.1) completes its handshake and login and is served.
            await edge.StartOtherAgentAsync(lateToken, "late-agent", [edge.HttpService("late", "late.test")]);
            Assert.Equal(HttpStatusCode.OK, (await GetAsync(edge, "late.test", "/echo")).Status);
        }
        finally
        {
            foreach (var socket in silent)
            {
                socket.Dispose();
            }
        }
        await transfer.CompleteAsync();
        await AssertStillServesAsync(edge);
    }

    [Fact]
    public async Task Logins_opened_in_parallel_get_no_more_guesses_than_the_failure_limit()
    {
        var limit = new EdgeLimitsConfig().MaxAuthFailuresPerIp;
        var edge = await StartEdgeAsync();
        var goodSession = Assert.Single(edge.Edge.State.Sessions);
        var transfer = await StartTransferAsync(edge);

        var attempts = Enumerable.Range(0, 60).Select(i => Task.Run(async () =>
        {
            try
            {
                await using var raw = await ConnectRawAsync(edge);
                var answer = await raw.AuthenticateAsync(WarrenHarness.NewToken(), $"guess-{i}");
                return answer is { Type: ControlMessage.AuthResult, Ok: false };
            }
            catch (Exception ex) when (ex is IOException or OperationCanceledException or System.Security.Authentication.AuthenticationException or SocketException)
            {
                return false; // dropped before an answer
            }
        })).ToArray();
        var answered = (await Wait.WithTimeoutAsync(Task.WhenAll(attempts), TimeSpan.FromSeconds(60), "60 parallel logins")).Count(a => a);

        Log.Note($"{answered} of 60 parallel logins were answered");
        Assert.InRange(answered, 1, limit);
        Assert.InRange(edge.Edge.State.AuthFailures, 1, limit);
        Assert.True(await edge.MetricAsync("warren_edge_connections_rejected_total", "reason=\"agent_login_limit\"") >= 60 - limit);
        Assert.Contains(goodSession, edge.Edge.State.Sessions);
        await transfer.CompleteAsync();
        await AssertStillServesAsync(edge);
    }

    [Fact]
    public async Task A_blocked_address_is_refused_before_the_tls_handshake()
    {
        const int limit = 2;
        var edge = await StartEdgeAsync(new HarnessOptions { Limits = new EdgeLimitsConfig { MaxAuthFailuresPerIp = limit } });
        var transfer = await StartTransferAsync(edge);
        for (var i = 0; i < limit; i++)
        {
            await using var raw = await ConnectRawAsync(edge);
            Assert.False((await raw.AuthenticateAsync(WarrenHarness.NewToken()))!.Ok);
        }

        // The edge never presents its certificate to a blocked address: the connection closes before the ServerHello.
        var certificateSeen = false;
        using var cts = new CancellationTokenSource(Wait.DefaultTimeout);
        var refused = await Assert.ThrowsAnyAsync<Exception>(async () =>
        {
            // On loopback the reset can arrive before connect() even returns.
            using var socket = await RawHttp.ConnectAsync(edge.Edge.AgentsPort, null, cts.Token);
            await using var tls = new SslStream(new NetworkStream(socket, ownsSocket: false));
            await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
            {
                TargetHost = "localhost",
                RemoteCertificateValidationCallback = (_, _, _, _) => certificateSeen = true,
            }, cts.Token);
        });
        Log.Note($"blocked address: {refused.GetType().Name}: {refused.Message}");
        Assert.IsNotType<OperationCanceledException>(refused); // closed by the edge, not left waiting
        Assert.False(certificateSeen, "the edge completed a TLS handshake with a blocked address");
        await Log.WaitForAsync(Wait.DefaultTimeout, "[AgentBlocked]", "127.0.0.1");
        Assert.True(await edge.MetricAsync("warren_edge_connections_rejected_total", "reason=\"agent_login_limit\"") >= 1);

        await transfer.CompleteAsync();
        await AssertStillServesAsync(edge);
    }
}
