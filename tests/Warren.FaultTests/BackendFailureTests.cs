using System.Globalization;
using System.Net;
using System.Net.Http;
using System.Net.Sockets;
using System.Text;
using Warren.Configuration;
using Warren.FaultTests.Harness;
using Xunit;
using Xunit.Abstractions;

namespace Warren.FaultTests;

/// <summary>
/// RELIABILITY (a) D2: a backend that refuses, stalls or dies mid-response. The client sees 502, 504 or an aborted
/// response, never a complete-looking truncated one; the bytes it did get are intact; the session serves on.
/// </summary>
[Collection(ClientIsolatedCollection.Name)]
public sealed class BackendFailureTests(ITestOutputHelper output) : LoggedTest(output)
{
    private const int Sent = 300_000;
    private const long Declared = 1024 * 1024;

    [Fact]
    public async Task Backend_refusing_connections_answers_502_and_the_session_goes_on_serving()
    {
        using var timeout = new CancellationTokenSource(TestTimeout);
        var nothingListens = ReservePort();
        await using var tunnel = await WarrenHarness.StartAsync(Log, new HarnessOptions
        {
            Services = h => [h.HttpService("app", WarrenHarness.AppHost), h.HttpService("refused", "refused.test", new Uri($"http://127.0.0.1:{nothingListens}"))],
        });

        using var response = await tunnel.GetAsync("/bytes/1000", "refused.test", timeout.Token);

        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        Assert.Empty(await response.Content.ReadAsByteArrayAsync(timeout.Token));
        await ClientDownload.VerifiedAsync(tunnel, tunnel.Client, 4 * Declared, timeout.Token);
    }

    [Fact]
    public async Task Backend_slower_than_the_response_timeout_answers_504_and_its_request_is_abandoned()
    {
        using var timeout = new CancellationTokenSource(TestTimeout);
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var abandoned = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var backend = await BackendHttpServer.StartAsync(async context =>
        {
            using var _ = context.RequestAborted.Register(() => abandoned.TrySetResult());
            started.TrySetResult();
            await Task.Delay(Timeout.Infinite, context.RequestAborted);
        });
        await using var tunnel = await WarrenHarness.StartAsync(Log, new HarnessOptions
        {
            Services = h => [h.HttpService("app", WarrenHarness.AppHost), new ServiceConfig { Name = "slow", Hostnames = ["slow.test"], Target = backend.Uri, ResponseTimeout = TimeSpan.FromSeconds(1) }],
        });

        using var response = await tunnel.GetAsync("/", "slow.test", timeout.Token);

        Assert.Equal(HttpStatusCode.GatewayTimeout, response.StatusCode);
        Assert.True(started.Task.IsCompleted, "the request never reached the backend");
        // The edge gave up, so the tunnel stream was reset and the agent closed its backend connection.
        await Wait.WithTimeoutAsync(abandoned.Task, Wait.DefaultTimeout, "the backend seeing its request aborted");
        await ClientDownload.VerifiedAsync(tunnel, tunnel.Client, 4 * Declared, timeout.Token);
    }

    /// <summary>
    /// The backend sends the head and <see cref="Sent"/> body bytes, the client reads all of them, then the
    /// backend closes (FIN) or crashes (RST). Content-Length framing or chunked, the client's read must fail.
    /// </summary>
    [Theory]
    [InlineData(false, false)]
    [InlineData(false, true)]
    [InlineData(true, false)]
    [InlineData(true, true)]
    public async Task Backend_dying_mid_body_aborts_the_client_response_after_intact_bytes(bool chunked, bool reset)
    {
        using var timeout = new CancellationTokenSource(TestTimeout);
        var die = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var backend = BackendTcpServer.Start(async (socket, cancellationToken) =>
        {
            await BackendTcpServer.ReadRequestHeadAsync(socket, cancellationToken);
            await socket.SendAsync(Encoding.ASCII.GetBytes(chunked
                ? "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                : $"HTTP/1.1 200 OK\r\nContent-Length: {Declared}\r\n\r\n"), SocketFlags.None, cancellationToken);
            if (chunked)
            {
                for (var offset = 0; offset < Sent; offset += 32 * 1024)
                {
                    var n = Math.Min(32 * 1024, Sent - offset);
                    await socket.SendAsync(Encoding.ASCII.GetBytes(n.ToString("x", CultureInfo.InvariantCulture) + "\r\n"), SocketFlags.None, cancellationToken);
                    await BackendPattern.SendAsync(socket, offset, n, cancellationToken);
                    await socket.SendAsync("\r\n"u8.ToArray(), SocketFlags.None, cancellationToken);
                }
            }
            else
            {
                await BackendPattern.SendAsync(socket, 0, Sent, cancellationToken);
            }
            await die.Task.WaitAsync(cancellationToken);
            BackendTcpServer.Die(socket, reset);
        });
        await using var tunnel = await WarrenHarness.StartAsync(Log, new HarnessOptions
        {
            Services = h => [h.HttpService("app", WarrenHarness.AppHost), h.HttpService("dying", "dying.test", backend.HttpUri)],
        });

        using var request = tunnel.Request(HttpMethod.Get, "/", "dying.test");
        using var response = await tunnel.Client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(chunked ? null : Declared, response.Content.Headers.ContentLength);
        await using var body = await response.Content.ReadAsStreamAsync(timeout.Token);
        var verifier = new Mod251Verifier();
        Assert.Equal(Sent, await ClientDownload.ReadVerifiedAsync(body, verifier, Sent, timeout.Token));

        die.TrySetResult();
        var buffer = new byte[64 * 1024];
        var error = await Assert.ThrowsAnyAsync<IOException>(async () =>
        {
            // A read that returns 0 here would be a truncated body that looks complete: the defect this test is for.
            while (await body.ReadAsync(buffer, timeout.Token) is var n and > 0)
            {
                verifier.Check(buffer.AsSpan(0, n));
            }
        });
        Log.Note($"the client's read failed after {verifier.Verified} intact bytes: {error.GetType().Name}: {error.Message}");
        Assert.Equal(Sent, verifier.Verified);
        await ClientDownload.VerifiedAsync(tunnel, tunnel.Client, 4 * Declared, timeout.Token);
    }

    /// <summary>
    /// A TCP service's backend sends <see cref="Sent"/> bytes, then closes (FIN) or crashes (RST); in one case the
    /// client had half-closed its side first, so the tunnel's stream was already half-closed too.
    /// </summary>
    [Theory]
    [InlineData(false, false)]
    [InlineData(true, false)]
    [InlineData(true, true)]
    public async Task Tcp_backend_dying_mid_stream_closes_the_client_connection_after_intact_bytes(bool reset, bool clientHalfClosed)
    {
        using var timeout = new CancellationTokenSource(TestTimeout);
        var die = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var backend = BackendTcpServer.Start(async (socket, cancellationToken) =>
        {
            if (clientHalfClosed && await socket.ReceiveAsync(new byte[1], SocketFlags.None, cancellationToken) != 0)
            {
                throw new IOException("expected the client's half-close, got data");
            }
            await BackendPattern.SendAsync(socket, 0, Sent, cancellationToken);
            await die.Task.WaitAsync(cancellationToken);
            BackendTcpServer.Die(socket, reset);
        });
        var port = ReservePort();
        await using var tunnel = await WarrenHarness.StartAsync(Log, new HarnessOptions
        {
            AllowPorts = [port],
            Services = _ => [new ServiceConfig { Name = "dying", Port = port, Target = backend.TcpUri }],
        });

        using var client = await ClientConnection.ConnectAsync(port, timeout.Token);
        await using var stream = new NetworkStream(client.Socket, ownsSocket: false);
        if (clientHalfClosed)
        {
            client.Socket.Shutdown(SocketShutdown.Send);
        }
        var verifier = new Mod251Verifier();
        Assert.Equal(Sent, await ClientDownload.ReadVerifiedAsync(stream, verifier, Sent, timeout.Token));

        die.TrySetResult();
        var buffer = new byte[64 * 1024];
        Exception? error = null;
        try
        {
            while (await stream.ReadAsync(buffer, timeout.Token) is var n and > 0)
            {
                verifier.Check(buffer.AsSpan(0, n));
            }
        }
        catch (IOException ex)
        {
            error = ex;
        }
        Log.Note($"the client's connection ended after {verifier.Verified} intact bytes: {(error is null ? "end of stream" : error.Message)}");
        Assert.Equal(Sent, verifier.Verified);
        if (reset)
        {
            // A crash must not look like the clean end of a stream: the client sees a reset too.
            Assert.IsType<SocketException>(error?.InnerException);
            // And it is the service's failure, not the client's abort (nor "ok").
            await Log.WaitForAsync(Wait.DefaultTimeout, "[TcpAccess]", "dying TCP", " reset ");
            // Each side logs which end cut it: the agent its backend, the edge the tunnel (a reset in the field is traced to its end).
            await Log.WaitForAsync(Wait.DefaultTimeout, "[BackendReset]", "dying");
            await Log.WaitForAsync(Wait.DefaultTimeout, "[TcpTunnelReset]", "dying");
            Assert.Equal(1, await tunnel.MetricAsync("warren_service_errors_total", "service=\"dying\"", "kind=\"reset\""));
            Assert.Equal(0, await tunnel.MetricAsync("warren_service_client_aborts_total", "service=\"dying\""));
        }
        else
        {
            Assert.Null(error);
        }
    }
}
