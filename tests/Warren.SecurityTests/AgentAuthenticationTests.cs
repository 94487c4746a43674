using System.Diagnostics;
using System.Net;
using Warren.Configuration;
using Warren.Edge.Agents;
using Warren.Protocol.Tunnel;
using Warren.SecurityTests.Harness;
using Xunit.Abstractions;

namespace Warren.SecurityTests;

/// <summary>Who may connect as an agent: tokens, revocation, brute force, and the pinned TLS link (docs/security.md).</summary>
public sealed partial class AgentAuthenticationTests(ITestOutputHelper output) : SecurityTest(output)
{
    [Fact]
    public async Task Wrong_token_never_registers_and_the_edge_counts_the_failure()
    {
        var edge = await StartEdgeAsync();
        var transfer = await StartTransferAsync(edge);

        var intruder = await edge.StartOtherAgentAsync(WarrenHarness.NewToken(), "intruder", [edge.HttpService("web", "intruder.test")], waitForSession: false);

        await Wait.UntilAsync(() => edge.Edge.State.AuthFailures >= 1, "the edge to count the failed authentication", Wait.DefaultTimeout);
        var refused = await Log.WaitForAsync(Wait.DefaultTimeout, "[TokenRefused]", "refused this agent's token (invalid token)");
        Log.Note("agent side: " + refused);
        Assert.NotEmpty(Log.Matching("[AgentAuthFailed]", "intruder"));
        Assert.Equal(0, intruder.ConnectedSessions);
        Assert.DoesNotContain(edge.Edge.State.Sessions, s => s.AgentName == "intruder");
        Assert.Equal(HttpStatusCode.NotFound, (await GetAsync(edge, "intruder.test", "/echo")).Status);

        await transfer.CompleteAsync();
        await AssertStillServesAsync(edge);
    }

    [Fact]
    public async Task Revoked_token_loses_its_live_session_within_seconds()
    {
        string? victimToken = null;
        var edge = await StartEdgeAsync(new HarnessOptions
        {
            Store = store => victimToken = store.Create("victim", ["victim.test"], [], maxSessions: null),
        });
        var victim = await edge.StartOtherAgentAsync(victimToken!, "victim-agent", [edge.HttpService("web", "victim.test")]);
        Assert.Equal(HttpStatusCode.OK, (await GetAsync(edge, "victim.test", "/echo")).Status);
        var transfer = await StartTransferAsync(edge);

        using (var store = new Warren.Edge.Tokens.TokenStore(edge.DataDirectory))
        {
            Assert.True(store.Revoke("victim"));
        }
        var clock = Stopwatch.StartNew();
        await Wait.UntilAsync(() => !edge.Edge.State.Sessions.Any(s => s.TokenName == "victim"), "the revoked token's session to close", TimeSpan.FromSeconds(6));
        Log.Note($"revoked session closed after {clock.Elapsed.TotalSeconds:0.00} s");
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"closing took {clock.Elapsed}");

        var (status, _) = await GetAsync(edge, "victim.test", "/echo");
        Assert.True(status is HttpStatusCode.ServiceUnavailable or HttpStatusCode.NotFound, $"after revocation: {status}");
        // The agent comes back with the same token and is refused like any unknown token.
        await Wait.UntilAsync(() => edge.Edge.State.AuthFailures >= 1, "the revoked token's reconnect to be refused", Wait.DefaultTimeout);
        Assert.Equal(0, victim.ConnectedSessions);

        await transfer.CompleteAsync();
        await AssertStillServesAsync(edge);
    }

    [Fact]
    public async Task Token_brute_force_from_one_ip_is_cut_off_while_the_live_session_keeps_working()
    {
        // limits.max_auth_failures_per_ip (default 10) set lower, so the test also proves the setting is applied.
        const int limit = 4;
        var edge = await StartEdgeAsync(new HarnessOptions { Limits = new EdgeLimitsConfig { MaxAuthFailuresPerIp = limit } });
        var goodSession = Assert.Single(edge.Edge.State.Sessions);
        var transfer = await StartTransferAsync(edge);

        var answered = 0;
        Exception? dropped = null;
        for (var attempt = 1; attempt <= limit + 5 && dropped is null; attempt++)
        {
            try
            {
                await using var raw = await ConnectRawAsync(edge);
                var answer = await raw.AuthenticateAsync(WarrenHarness.NewToken(), $"guess-{attempt}");
                Assert.Equal(ControlMessage.AuthResult, answer?.Type);
                Assert.False(answer!.Ok);
                Assert.Equal("invalid token", answer.Error);
                answered++;
            }
            // Dropped at accept, before TLS: on loopback the reset can arrive before connect() even returns.
            catch (Exception ex) when (ex is IOException or OperationCanceledException or System.Security.Authentication.AuthenticationException or System.Net.Sockets.SocketException)
            {
                dropped = ex;
                Log.Note($"attempt {attempt} dropped: {ex.GetType().Name}: {ex.Message}");
            }
        }
        Assert.Equal(limit, answered);
        Assert.NotNull(dropped);
        Assert.Equal(limit, edge.Edge.State.AuthFailures);
        await Log.WaitForAsync(Wait.DefaultTimeout, "[AgentBlocked]", "127.0.0.1");
        // Even the right token is turned away from that address now: the limiter acts before any token is read.
        await Assert.ThrowsAnyAsync<Exception>(async () =>
        {
            await using var raw = await ConnectRawAsync(edge);
            var answer = await raw.AuthenticateAsync(edge.Token);
            Assert.Null(answer);
        });

        // The session that was already up (from the same address) is untouched.
        Assert.Contains(goodSession, edge.Edge.State.Sessions);
        Assert.False(goodSession.Mux.Closing.IsCancellationRequested);
        await transfer.CompleteAsync();
        await AssertStillServesAsync(edge);
    }

    [Fact]
    public async Task Agent_with_a_refused_token_waits_minutes_and_never_locks_out_its_neighbours()
    {
        var edge = await StartEdgeAsync(); // the default limit: 10 failed logins a minute per address
        var transfer = await StartTransferAsync(edge);

        // 16 sessions (the most an agent may have), each once retrying every few seconds, failed 16+ times within a
        // minute and blocked every agent at the same address. Now one of them presents the token, once.
        var wrong = await edge.StartOtherAgentAsync(WarrenHarness.NewToken(), "wrong-token", [edge.HttpService("web", "wrong.test")], waitForSession: false,
            configure: c => c with { Connections = 16 });
        var refused = await Log.WaitForAsync(Wait.DefaultTimeout, "[TokenRefused]", "Session 0:", "(invalid token)", "warren token create");
        var minutes = double.Parse(MinutesPattern().Match(refused).Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(minutes, 2.5, 5.0);

        // A neighbour behind the same address logs in and registers.
        var neighbour = await edge.StartOtherAgentAsync(edge.Token, "neighbour", [edge.HttpService("web", GoodHost)]);
        Assert.Equal(1, neighbour.ConnectedSessions);
        Assert.Equal(1, edge.Edge.State.AuthFailures);
        Assert.Empty(Log.Matching("[AgentBlocked]"));
        Assert.Equal(0, wrong.ConnectedSessions);

        await transfer.CompleteAsync();
        await AssertStillServesAsync(edge);
    }

    [Fact]
    public async Task Failed_agent_logins_ban_the_address_which_is_then_refused_before_tls_on_the_agent_and_https_listeners()
    {
        // Below limits.max_auth_failures_per_ip (10): the abuse shield bans first, for an hour and on every listener.
        var certificate = SelfSignedCertificate.Write(TempDirectory(), GoodHost);
        var edge = await StartEdgeAsync(certificate.Https(new HarnessOptions
        {
            ConfigureEdge = e => e with { Shield = new ShieldConfig { AuthFailures = 3 } },
        }));
        var transfer = await StartTransferAsync(edge);
        var attacker = IPAddress.Parse("127.0.0.2");
        Assert.True(await TlsHandshakeAsync(attacker, edge.Edge.HttpsPort!.Value, certificate), "before the ban the HTTPS listener serves 127.0.0.2");

        for (var attempt = 1; attempt <= 3; attempt++)
        {
            await using var raw = await ConnectRawAsync(edge, attacker);
            var answer = await raw.AuthenticateAsync(WarrenHarness.NewToken(), $"guess-{attempt}");
            Assert.Equal("invalid token", answer?.Error);
        }
        await Log.WaitForAsync(Wait.DefaultTimeout, "[ShieldBanned]", "127.0.0.2", "3 authentication failures");

        // Banned: even the right token gets no TLS handshake on the agents port, nor does HTTPS, from 127.0.0.2.
        await Assert.ThrowsAnyAsync<Exception>(async () =>
        {
            await using var raw = await ConnectRawAsync(edge, attacker);
            Assert.Null(await raw.AuthenticateAsync(edge.Token));
        });
        Assert.False(await TlsHandshakeAsync(attacker, edge.Edge.HttpsPort!.Value, certificate), "a banned address gets a TLS handshake on the HTTPS listener");
        Assert.Equal(1, await edge.MetricAsync("warren_shield_bans_total", "reason=\"auth_failures\""));
        Assert.True(await edge.MetricAsync("warren_shield_refused_total", "kind=\"agent\"") >= 1);
        Assert.True(await edge.MetricAsync("warren_shield_refused_total", "kind=\"connection\"") >= 1);
        Assert.Equal(3, edge.Edge.State.AuthFailures); // refused before TLS: no further login was read

        // 127.0.0.1 is not affected: its HTTPS handshakes, its live agent session and its transfer go on.
        Assert.True(await TlsHandshakeAsync(IPAddress.Loopback, edge.Edge.HttpsPort!.Value, certificate), "127.0.0.1 is refused too");
        Assert.Single(edge.Edge.State.Sessions);
        await transfer.CompleteAsync();
        await AssertStillServesAsync(edge);
    }

    /// <summary>True when a TLS handshake from <paramref name="source"/> with the HTTPS listener completes.</summary>
    private static async Task<bool> TlsHandshakeAsync(IPAddress source, int port, SelfSignedCertificate certificate)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        using var socket = new System.Net.Sockets.Socket(source.AddressFamily, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
        try
        {
            socket.Bind(new IPEndPoint(source, 0));
            await socket.ConnectAsync(IPAddress.Loopback, port, timeout.Token);
            await using var tls = new System.Net.Security.SslStream(new System.Net.Sockets.NetworkStream(socket, ownsSocket: false));
            await tls.AuthenticateAsClientAsync(new System.Net.Security.SslClientAuthenticationOptions
            {
                TargetHost = GoodHost,
                RemoteCertificateValidationCallback = (_, presented, _, _) => certificate.Matches(presented),
            }, timeout.Token);
            return true;
        }
        catch (Exception ex) when (ex is IOException or System.Security.Authentication.AuthenticationException or System.Net.Sockets.SocketException)
        {
            return false;
        }
    }

    [System.Text.RegularExpressions.GeneratedRegex(@"Trying again in ([0-9.]+) min")]
    private static partial System.Text.RegularExpressions.Regex MinutesPattern();

    [Fact]
    public async Task Agent_with_a_wrong_pinned_fingerprint_never_connects_and_says_why()
    {
        var edge = await StartEdgeAsync();
        var transfer = await StartTransferAsync(edge);
        var real = edge.Fingerprint;
        var wrong = (real[0] == '0' ? "1" : "0") + real[1..];

        var agent = await edge.StartOtherAgentAsync(edge.Token, "mitm-victim", [edge.HttpService("other", GoodHost)], fingerprint: wrong, waitForSession: false);

        var line = await Log.WaitForAsync(Wait.DefaultTimeout, "[FingerprintMismatch]");
        Assert.Contains(real, line, StringComparison.Ordinal); // names what the edge actually presented
        Assert.Equal(0, agent.ConnectedSessions);
        Assert.Single(edge.Edge.State.Sessions);
        Assert.Equal(0, edge.Edge.State.AuthFailures); // the token was never sent
        // Only the full SHA-256 is accepted as a pin (chisel once accepted a truncated MD5).
        var truncated = Assert.Throws<ConfigException>(() => ConfigLoader.ValidateAgent(new AgentConfig
        {
            Edge = "127.0.0.1:1", Token = edge.Token, EdgeFingerprint = real[..40],
            Services = [edge.HttpService("web", GoodHost)],
        }));
        Assert.Contains("edge_fingerprint", truncated.Message, StringComparison.Ordinal);

        await transfer.CompleteAsync();
        await AssertStillServesAsync(edge);
    }
}
