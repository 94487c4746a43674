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
        var edge = await StartEdgeAsync(new TestEdgeOptions { HandshakeTimeout = Limit });
        var transfer = await edge.StartTransferAsync();

        using var cts = new CancellationTokenSource(Wait.DefaultTimeout);
        await using var tls = await AgentLink.DialTlsAsync(edge.Server.AgentsPort, edge.Fingerprint, cts.Token);
        var clock = Stopwatch.StartNew();
        var (elapsed, _) = await RawHttp.ReadUntilClosedAsync(tls, clock, TimeSpan.FromSeconds(8));
        Log.Note($"silent TLS connection closed by the edge after {elapsed.TotalSeconds:0.00} s");
        Assert.InRange(elapsed, Limit * 0.8, Limit + TimeSpan.FromSeconds(4));
        await Log.WaitForAsync(Wait.DefaultTimeout, "[AgentHandshakeFailed]", "did not complete the handshake");
        Assert.Single(edge.Server.State.Sessions);

        await transfer.CompleteAsync();
        await edge.AssertStillServesAsync();
    }

    [Fact]
    public async Task Session_that_sends_hello_but_never_authenticates_is_dropped_within_the_auth_timeout()
    {
        var edge = await StartEdgeAsync(new TestEdgeOptions { AuthTimeout = Limit });
        var transfer = await edge.StartTransferAsync();
        {
            // HELLO, then nothing at all.
            await using var silent = await edge.ConnectRawAsync();
            var clock = Stopwatch.StartNew();
            var closed = await Wait.WithTimeoutAsync(silent.Session.Completion, TimeSpan.FromSeconds(8), "the edge to drop a session that never opened its control stream");
            Log.Note($"HELLO-only session closed after {clock.Elapsed.TotalSeconds:0.00} s: {closed}");
            Assert.InRange(clock.Elapsed, Limit * 0.8, Limit + TimeSpan.FromSeconds(4));
            Assert.Equal(ErrorCode.HandshakeTimeout, closed.Code);
            Assert.True(closed.ByPeer);
            await Log.WaitForAsync(Wait.DefaultTimeout, "[AgentAuthTimeout]");

            // HELLO and the control stream, but no auth message on it.
            await using var mute = await edge.ConnectRawAsync();
            using var cts = new CancellationTokenSource(Wait.DefaultTimeout);
            await mute.Session.OpenStreamAsync(new StreamOpenRequest(StreamKind.Control, "", "").Encode(), cts.Token);
            clock.Restart();
            closed = await Wait.WithTimeoutAsync(mute.Session.Completion, TimeSpan.FromSeconds(8), "the edge to drop a session that never sent auth");
            Log.Note($"control-stream-only session closed after {clock.Elapsed.TotalSeconds:0.00} s: {closed}");
            Assert.InRange(clock.Elapsed, TimeSpan.Zero, Limit + TimeSpan.FromSeconds(4));
            Assert.Equal(ErrorCode.HandshakeTimeout, closed.Code);
        }
        Assert.Single(edge.Server.State.Sessions);
        await transfer.CompleteAsync();
        await edge.AssertStillServesAsync();
    }
}

/// <summary>The TLS handshake itself has a limit (Kestrel's, 10 s): a client that connects and sends nothing is dropped.</summary>
public sealed class TlsHandshakeTimeoutTests(ITestOutputHelper output) : SecurityTest(output)
{
    [Fact]
    public async Task Tcp_connection_that_never_starts_tls_is_dropped_by_the_tls_handshake_timeout()
    {
        var edge = await StartEdgeAsync();
        var transfer = await edge.StartTransferAsync();

        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(IPAddress.Loopback, edge.Server.AgentsPort);
        await using var stream = new NetworkStream(socket, ownsSocket: false);
        var clock = Stopwatch.StartNew();
        var (elapsed, received) = await RawHttp.ReadUntilClosedAsync(stream, clock, TimeSpan.FromSeconds(15));
        Log.Note($"silent TCP connection closed after {elapsed.TotalSeconds:0.00} s");
        Assert.Empty(received);
        Assert.InRange(elapsed, TimeSpan.FromSeconds(8), TimeSpan.FromSeconds(13));

        await transfer.CompleteAsync();
        await edge.AssertStillServesAsync();
    }
}
