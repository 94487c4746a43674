using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Warren.Protocol.Framing;
using Warren.Protocol.Session;
using Warren.Protocol.Streams;
using Warren.Protocol.Tunnel;
using Warren.SecurityTests.Harness;
using Xunit.Abstractions;

namespace Warren.SecurityTests;

/// <summary>Connections to the agents port that never finish the handshake or the login are dropped within their limit.</summary>
public sealed class HandshakeTimeoutTests(ITestOutputHelper output) : SecurityTest(output)
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(1);

    [Fact]
    public async Task Tls_connection_that_never_sends_hello_is_dropped_within_the_handshake_timeout()
    {
        var edge = await StartEdgeAsync(new HarnessOptions { EdgeSession = new SessionOptions { HandshakeTimeout = Limit } });
        var transfer = await StartTransferAsync(edge);

        using var cts = new CancellationTokenSource(Wait.DefaultTimeout);
        await using var tls = await AgentLink.DialTlsAsync(edge.Edge.AgentsPort, edge.Fingerprint, cts.Token);
        var clock = Stopwatch.StartNew();
        var (elapsed, _) = await RawHttp.ReadUntilClosedAsync(tls, clock, Wait.DefaultTimeout);
        Log.Note($"silent TLS connection closed by the edge after {elapsed.TotalSeconds:0.00} s");
        // Not before the limit (a timer cannot fire early); how late is the machine's load, not the edge's doing.
        Assert.True(elapsed >= Limit * 0.8, $"closed after {elapsed.TotalSeconds:0.00} s, before the {Limit.TotalSeconds} s limit");
        await Log.WaitForAsync(Wait.DefaultTimeout, "[AgentHandshakeFailed]", "did not complete the handshake");
        Assert.Single(edge.Edge.State.Sessions);

        await transfer.CompleteAsync();
        await AssertStillServesAsync(edge);
    }

    [Fact]
    public async Task Session_that_sends_hello_but_never_authenticates_is_dropped_within_the_auth_timeout()
    {
        var edge = await StartEdgeAsync(new HarnessOptions { AuthTimeout = Limit });
        var transfer = await StartTransferAsync(edge);

        // HELLO, then nothing at all.
        await using var silent = await ConnectRawAsync(edge);
        var clock = Stopwatch.StartNew();
        var closed = await Wait.WithTimeoutAsync(silent.Session.Completion, Wait.DefaultTimeout, "the edge to drop a session that never opened its control stream");
        Log.Note($"HELLO-only session closed after {clock.Elapsed.TotalSeconds:0.00} s: {closed}");
        Assert.True(clock.Elapsed >= Limit * 0.8, $"closed after {clock.Elapsed.TotalSeconds:0.00} s, before the {Limit.TotalSeconds} s limit");
        Assert.Equal(ErrorCode.HandshakeTimeout, closed.Code);
        Assert.True(closed.ByPeer);
        // The edge names the limit it applied: this test's option, not the 5 s default.
        await Log.WaitForAsync(Wait.DefaultTimeout, "[AgentAuthTimeout]", $"within {Limit.TotalSeconds} s");

        // HELLO and the control stream, but no auth message on it.
        await using var mute = await ConnectRawAsync(edge);
        using var cts = new CancellationTokenSource(Wait.DefaultTimeout);
        await mute.Session.OpenStreamAsync(new StreamOpenRequest(StreamKind.Control, "", "").Encode(), cts.Token);
        clock.Restart();
        closed = await Wait.WithTimeoutAsync(mute.Session.Completion, Wait.DefaultTimeout, "the edge to drop a session that never sent auth");
        Log.Note($"control-stream-only session closed after {clock.Elapsed.TotalSeconds:0.00} s: {closed}");
        Assert.Equal(ErrorCode.HandshakeTimeout, closed.Code);
        Assert.Equal(2, Log.Matching("[AgentAuthTimeout]", $"within {Limit.TotalSeconds} s").Count);
        Assert.Single(edge.Edge.State.Sessions);
        await transfer.CompleteAsync();
        await AssertStillServesAsync(edge);
    }

    [Fact]
    public async Task Session_that_ends_before_its_login_is_no_login_timeout()
    {
        // An agent stopped while it logs in (Ctrl+C at start, a restart) ends its session before the auth message:
        // the edge used to report every such end as "did not authenticate within 5 s", at once, whatever the limit.
        var edge = await StartEdgeAsync();
        var leaving = await ConnectRawAsync(edge);
        await leaving.DisposeAsync();
        // The agents listener's gauge goes down once the connection's handler has returned, after any log line it writes.
        await Wait.UntilAsync(async () => await edge.MetricAsync("warren_edge_connections_open", "listener=\"agents\"") <= 1,
            "the edge to end the connection that left (the harness's own agent keeps one open)");
        Assert.NotEmpty(Log.Matching("[SessionClosed]", "edge<-").Concat(Log.Matching("[SessionFailed]", "edge<-")));

        Assert.Empty(Log.Matching("[AgentAuthTimeout]"));
        await AssertStillServesAsync(edge);
    }
}

/// <summary>The TLS handshake itself has a limit (Kestrel's, 10 s): a client that connects and sends nothing is dropped.</summary>
public sealed class TlsHandshakeTimeoutTests(ITestOutputHelper output) : SecurityTest(output)
{
    [Fact]
    public async Task Tcp_connection_that_never_starts_tls_is_dropped_by_the_tls_handshake_timeout()
    {
        var edge = await StartEdgeAsync();
        var transfer = await StartTransferAsync(edge);

        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(IPAddress.Loopback, edge.Edge.AgentsPort);
        await using var stream = new NetworkStream(socket, ownsSocket: false);
        var clock = Stopwatch.StartNew();
        var (elapsed, received) = await RawHttp.ReadUntilClosedAsync(stream, clock, Wait.DefaultTimeout);
        Log.Note($"silent TCP connection closed after {elapsed.TotalSeconds:0.00} s");
        Assert.Empty(received);
        // Not before Kestrel's 10 s (less a margin for the clocks); how much later depends on the machine's load.
        Assert.True(elapsed >= TimeSpan.FromSeconds(8), $"closed after {elapsed.TotalSeconds:0.00} s, before the TLS handshake timeout");

        await transfer.CompleteAsync();
        await AssertStillServesAsync(edge);
    }
}
