using System.Globalization;
using System.Net;
using System.Net.Http;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Security.Cryptography;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http;
using Warren.Configuration;
using Warren.FaultTests.Harness;
using Xunit;
using Xunit.Abstractions;

namespace Warren.FaultTests;

/// <summary>
/// RELIABILITY (a) D3: a client that vanishes (socket reset) mid-request. The tunnel stream is reset, the agent
/// closes its backend connection (the backend sees it cut), and the service's concurrency slot
/// frees: with max_concurrency 1 the next client is served, not queued behind a ghost until queue_timeout.
/// </summary>
[Collection(ClientIsolatedCollection.Name)]
public sealed class ClientAbortTests(ITestOutputHelper output) : LoggedTest(output)
{
    private const string Service = "one";
    private const string Host = "one.test";

    /// <summary>A queue wait this short turns a slot held by a ghost into a 503 for the next client.</summary>
    private static readonly TimeSpan QueueTimeout = TimeSpan.FromSeconds(3);

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Http_client_vanishing_aborts_the_backend_request_and_frees_the_slot(bool midBody)
    {
        using var timeout = new CancellationTokenSource(TestTimeout);
        var requestStarted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var backendCut = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var backend = await BackendHttpServer.StartAsync(async context =>
        {
            var abandoned = context.Request.Path == "/abandoned";
            if (abandoned)
            {
                // The connection's end, not RequestAborted: once the agent resets the connection, Kestrel drops the
                // handler's writes without failing them, so a fast writer can finish its body and return before the
                // request's abort is signalled, and a returned request's token never fires. The connection's token
                // fires whether or not the handler is still running.
                var connection = context.Features.Get<IConnectionLifetimeFeature>() ?? throw new InvalidOperationException("Kestrel exposes no connection lifetime");
                connection.ConnectionClosed.Register(() => backendCut.TrySetResult());
                requestStarted.TrySetResult();
            }
            if (abandoned && !midBody)
            {
                // A long poll: the client goes away before the response starts.
                await Task.Delay(Timeout.Infinite, context.RequestAborted);
            }
            await WritePatternAsync(context, abandoned ? 1L << 30 : Size(context));
        });
        await using var tunnel = await StartTunnelAsync(backend.Uri);

        using (var client = await ClientConnection.ConnectAsync(tunnel.Edge.HttpPort!.Value, timeout.Token))
        {
            await client.SendAsync($"GET /abandoned HTTP/1.1\r\nHost: {Host}\r\n\r\n", timeout.Token);
            if (midBody)
            {
                var (status, _, bodyStart) = await client.ReadResponseHeadAsync(timeout.Token);
                Assert.Equal(200, status);
                await using var stream = new NetworkStream(client.Socket, ownsSocket: false);
                var verifier = new Mod251Verifier();
                verifier.Check(bodyStart);
                await ClientDownload.ReadVerifiedAsync(stream, verifier, 1024 * 1024, timeout.Token);
                Log.Note($"the client read {verifier.Verified} intact bytes, then vanished");
            }
            else
            {
                await Wait.WithTimeoutAsync(requestStarted.Task, Wait.DefaultTimeout, "the request reaching the backend");
            }
            client.Abort();
        }

        await Wait.WithTimeoutAsync(backendCut.Task, Wait.DefaultTimeout, "the backend seeing its connection cut");
        await AssertSlotFreedAsync(tunnel);
        await ClientDownload.VerifiedAsync(tunnel, tunnel.Client, 2 * 1024 * 1024, timeout.Token, Host);
    }

    [Fact]
    public async Task WebSocket_client_vanishing_closes_the_backend_socket_and_frees_the_slot()
    {
        using var timeout = new CancellationTokenSource(TestTimeout);
        var backendEnded = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        var sockets = 0;
        await using var backend = await BackendHttpServer.StartAsync(async context =>
        {
            using var socket = await context.WebSockets.AcceptWebSocketAsync();
            var first = Interlocked.Increment(ref sockets) == 1;
            var buffer = new byte[64 * 1024];
            try
            {
                while (true)
                {
                    var message = await socket.ReceiveAsync(buffer, context.RequestAborted);
                    if (message.MessageType == WebSocketMessageType.Close)
                    {
                        await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, context.RequestAborted);
                        return;
                    }
                    await socket.SendAsync(buffer.AsMemory(0, message.Count), message.MessageType, message.EndOfMessage, context.RequestAborted);
                }
            }
            catch (Exception ex) when (first && ex is WebSocketException or OperationCanceledException or IOException)
            {
                backendEnded.TrySetResult(ex.GetType().Name);
            }
        });
        await using var tunnel = await StartTunnelAsync(backend.Uri);

        using (var client = await ClientConnection.ConnectAsync(tunnel.Edge.HttpPort!.Value, timeout.Token))
        {
            var key = Convert.ToBase64String(RandomNumberGenerator.GetBytes(16));
            await client.SendAsync($"GET /ws HTTP/1.1\r\nHost: {Host}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {key}\r\n\r\n", timeout.Token);
            var (status, _, rest) = await client.ReadResponseHeadAsync(timeout.Token);
            Assert.Equal(101, status);
            Assert.Empty(rest);
            using var socket = WebSocket.CreateFromStream(new NetworkStream(client.Socket, ownsSocket: false), new WebSocketCreationOptions { IsServer = false });
            await EchoAsync(socket, 256 * 1024, timeout.Token);
            client.Abort();
        }

        Log.Note($"backend WebSocket ended with {await Wait.WithTimeoutAsync(backendEnded.Task, Wait.DefaultTimeout, "the backend's WebSocket ending")}");
        await AssertSlotFreedAsync(tunnel);
        using var next = new ClientWebSocket();
        next.Options.SetRequestHeader("Host", Host);
        await next.ConnectAsync(new Uri($"ws://127.0.0.1:{tunnel.Edge.HttpPort}/ws"), timeout.Token);
        await EchoAsync(next, 256 * 1024, timeout.Token);
        await next.CloseAsync(WebSocketCloseStatus.NormalClosure, null, timeout.Token);
    }

    [Fact]
    public async Task Tcp_client_vanishing_closes_the_backend_connection_and_frees_the_slot()
    {
        using var timeout = new CancellationTokenSource(TestTimeout);
        var backendEnded = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var backend = BackendTcpServer.Start(async (socket, cancellationToken) =>
        {
            try
            {
                // Streams the pattern until the connection is gone.
                await BackendPattern.SendAsync(socket, 0, long.MaxValue, cancellationToken);
            }
            catch (Exception ex) when (ex is SocketException or IOException)
            {
                backendEnded.TrySetResult(ex.Message);
            }
        });
        var port = ReservePort();
        await using var tunnel = await StartTunnelAsync(backend.TcpUri, port);

        using (var client = await ClientConnection.ConnectAsync(port, timeout.Token))
        {
            await using var stream = new NetworkStream(client.Socket, ownsSocket: false);
            await ClientDownload.ReadVerifiedAsync(stream, new Mod251Verifier(), 1024 * 1024, timeout.Token);
            client.Abort();
        }

        Log.Note($"backend connection ended: {await Wait.WithTimeoutAsync(backendEnded.Task, Wait.DefaultTimeout, "the backend's connection ending")}");
        await AssertSlotFreedAsync(tunnel);
        using var next = await ClientConnection.ConnectAsync(port, timeout.Token);
        await using var nextStream = new NetworkStream(next.Socket, ownsSocket: false);
        Assert.Equal(2 * 1024 * 1024, await ClientDownload.ReadVerifiedAsync(nextStream, new Mod251Verifier(), 2 * 1024 * 1024, timeout.Token));
    }

    /// <summary>
    /// The slot is busy; a second client's stream waits in the agent's queue; that client vanishes. Its queued
    /// stream must leave the queue at once rather than wait for the slot, then dial the backend for nobody.
    /// </summary>
    [Fact]
    public async Task Http_client_vanishing_while_queued_for_the_slot_leaves_the_queue_without_dialing()
    {
        using var timeout = new CancellationTokenSource(TestTimeout);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var holding = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var backend = await BackendHttpServer.StartAsync(async context =>
        {
            if (context.Request.Path.StartsWithSegments("/hold"))
            {
                holding.TrySetResult();
                await release.Task.WaitAsync(context.RequestAborted);
            }
            await WritePatternAsync(context, Size(context));
        });
        await using var tunnel = await StartTunnelAsync(backend.Uri, queueTimeout: TimeSpan.FromSeconds(60));
        var metrics = tunnel.Agent!.Metrics.For(Service)!;

        var holder = ClientDownload.VerifiedAsync(tunnel, tunnel.Client, 1024, timeout.Token, Host, "/hold");
        using var __ = new AbandonOnFailure(holder);
        await Wait.WithTimeoutAsync(holding.Task, Wait.DefaultTimeout, "the first request holding the only slot");
        using (var client = await ClientConnection.ConnectAsync(tunnel.Edge.HttpPort!.Value, timeout.Token))
        {
            await client.SendAsync($"GET /queued HTTP/1.1\r\nHost: {Host}\r\n\r\n", timeout.Token);
            await Wait.UntilAsync(() => metrics.Queued.Value == 1, "the second request waiting in the agent's queue");
            client.Abort();
        }

        await Wait.UntilAsync(() => metrics.Queued.Value == 0, "the vanished client's stream leaving the agent's queue while the slot is still busy");
        Assert.False(holder.IsCompleted);
        release.TrySetResult();
        await Wait.WithTimeoutAsync(holder, Wait.DefaultTimeout, "the first request");
        await ClientDownload.VerifiedAsync(tunnel, tunnel.Client, 1024, timeout.Token, Host);
        // The ghost never reached the backend: the only connection is the first request's (reused by the last).
        Assert.Equal(1, backend.Connections);
    }

    private Task<WarrenHarness> StartTunnelAsync(Uri target, int? port = null, TimeSpan? queueTimeout = null) =>
        WarrenHarness.StartAsync(Log, new HarnessOptions
        {
            AllowPorts = port is { } p ? [p] : [],
            Services = _ =>
            [
                new ServiceConfig
                {
                    Name = Service,
                    Hostnames = port is null ? [Host] : [],
                    Port = port,
                    Target = target,
                    MaxConcurrency = 1,
                    QueueTimeout = queueTimeout ?? QueueTimeout,
                },
            ],
        });

    private static async Task AssertSlotFreedAsync(WarrenHarness tunnel) =>
        await Wait.UntilAsync(() => tunnel.Agent!.InFlight[Service] == 0, "the agent freeing the service's only concurrency slot");

    /// <summary>The size a /bytes/{n} request (as <see cref="ClientDownload"/> sends) asks for.</summary>
    private static long Size(HttpContext context) =>
        long.Parse(context.Request.Path.Value.AsSpan(context.Request.Path.Value!.LastIndexOf('/') + 1), CultureInfo.InvariantCulture);

    private static async Task WritePatternAsync(HttpContext context, long size)
    {
        context.Response.ContentLength = size;
        var buffer = new byte[64 * 1024];
        for (long sent = 0; sent < size;)
        {
            var n = (int)Math.Min(buffer.Length, size - sent);
            BackendPattern.Fill(buffer.AsSpan(0, n), sent);
            await context.Response.Body.WriteAsync(buffer.AsMemory(0, n), context.RequestAborted);
            sent += n;
        }
    }

    /// <summary>Sends <paramref name="size"/> random bytes as one binary message and checks the echo.</summary>
    private static async Task EchoAsync(WebSocket socket, int size, CancellationToken cancellationToken)
    {
        var message = RandomNumberGenerator.GetBytes(size);
        var send = socket.SendAsync(message, WebSocketMessageType.Binary, endOfMessage: true, cancellationToken);
        var echoed = new byte[size];
        var received = 0;
        while (received < size)
        {
            var result = await socket.ReceiveAsync(echoed.AsMemory(received), cancellationToken);
            Assert.Equal(WebSocketMessageType.Binary, result.MessageType);
            received += result.Count;
        }
        await send;
        Assert.True(message.AsSpan().SequenceEqual(echoed), "the echoed message differs from the one sent");
    }

    /// <summary>Observes a background task's failure when the test fails first, so it is not left unobserved.</summary>
    private sealed class AbandonOnFailure(Task task) : IDisposable
    {
        public void Dispose() => _ = task.ContinueWith(t => _ = t.Exception, TaskScheduler.Default);
    }
}
