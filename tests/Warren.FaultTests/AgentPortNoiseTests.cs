using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using Xunit;
using Xunit.Abstractions;

namespace Warren.FaultTests;

/// <summary>RELIABILITY (a) F: whatever arrives on the public agent port, live sessions and their transfers carry on.</summary>
public sealed class AgentPortNoiseTests(ITestOutputHelper output) : LoggedTest(output)
{
    [Fact]
    public async Task Junk_port_scans_and_half_finished_TLS_handshakes_on_the_agent_port_do_not_disturb_a_live_transfer()
    {
        const long size = 64L * 1024 * 1024;
        await using var tunnel = await WarrenHarness.StartAsync(Log);
        var sessionsBefore = (await tunnel.StatusAsync()).Sessions.Length;
        using var timeout = new CancellationTokenSource(TestTimeout);

        using var response = await tunnel.Client.SendAsync(tunnel.Request(HttpMethod.Get, $"/bytes/{size}"), HttpCompletionOption.ResponseHeadersRead, timeout.Token);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        await using var body = await response.Content.ReadAsStreamAsync(timeout.Token);

        var noise = MakeNoiseAsync(tunnel.Edge.AgentsPort, timeout.Token);
        var verifier = new Mod251Verifier();
        var buffer = new byte[64 * 1024];
        int n;
        while ((n = await body.ReadAsync(buffer, timeout.Token)) > 0)
        {
            verifier.Check(buffer.AsSpan(0, n));
        }
        var (connections, halfOpen) = await noise;
        Log.Note($"{connections} noisy connections, {halfOpen.Count} half-finished TLS handshakes held during the transfer");

        Assert.Equal(size, verifier.Verified);
        Assert.Equal(sessionsBefore, (await tunnel.StatusAsync()).Sessions.Length);
        using var after = await tunnel.GetAsync("/echo", cancellationToken: timeout.Token);
        Assert.Equal(HttpStatusCode.OK, after.StatusCode);
        foreach (var socket in halfOpen)
        {
            socket.Dispose();
        }
    }

    /// <summary>
    /// Connect-and-close scans, random bytes, an HTTP request, and TLS handshakes abandoned after the ClientHello,
    /// some of them left open while the transfer runs. Once the handshakes held from this address reach the edge's
    /// login limit (limits.max_auth_failures_per_ip counts logins in progress), further connections are reset at
    /// accept, on loopback sometimes before connect() returns: that is the edge refusing noise, and the noise goes on.
    /// </summary>
    private static async Task<(int Connections, List<Socket> HalfOpen)> MakeNoiseAsync(int port, CancellationToken cancellationToken)
    {
        var endPoint = new IPEndPoint(IPAddress.Loopback, port);
        var halfOpen = new List<Socket>();
        var connections = 0;
        async Task<bool> ConnectAsync(Socket socket)
        {
            try
            {
                await socket.ConnectAsync(endPoint, cancellationToken);
                connections++;
                return true;
            }
            catch (SocketException)
            {
                return false;
            }
        }
        for (var round = 0; round < 20; round++)
        {
            // A port scan: connect, close.
            using (var scan = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
            {
                await ConnectAsync(scan);
            }
            // Junk where a TLS ClientHello belongs, and a plaintext HTTP request.
            foreach (var junk in new[] { RandomNumberGenerator.GetBytes(4096), "GET / HTTP/1.1\r\nHost: x\r\n\r\n"u8.ToArray() })
            {
                using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                if (!await ConnectAsync(socket))
                {
                    continue;
                }
                try
                {
                    await socket.SendAsync(junk, SocketFlags.None, cancellationToken);
                }
                catch (SocketException)
                {
                    // The edge may already have closed it: that is the point.
                }
            }
            // A real ClientHello (from SslStream) whose handshake is never completed: the socket stays open.
            var half = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            if (!await ConnectAsync(half))
            {
                half.Dispose();
                continue;
            }
            var tls = new SslStream(new NetworkStream(half, ownsSocket: false), leaveInnerStreamOpen: true);
            _ = tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = "agents.test", RemoteCertificateValidationCallback = (_, _, _, _) => false }, cancellationToken)
                .ContinueWith(t => _ = t.Exception, TaskScheduler.Default);
            halfOpen.Add(half);
            await Task.Yield();
        }
        return (connections, halfOpen);
    }
}
