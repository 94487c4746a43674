using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http;
using System.Net.Sockets;
using System.Text;
using Microsoft.AspNetCore.Http;
using Warren.FaultTests.Harness;
using Xunit;
using Xunit.Abstractions;

namespace Warren.FaultTests;

/// <summary>
/// RELIABILITY (a) D4: a client that sends headers and part of a body, then stalls. Other traffic is unaffected;
/// the edge's minimum request body rate (240 B/s after a 5 s grace, EdgeServer) ends the request; the backend
/// sees its request aborted after exactly the bytes sent, intact, never a body that looks complete.
/// </summary>
[Collection(ClientIsolatedCollection.Name)]
public sealed class ClientSlowUploaderTests(ITestOutputHelper output) : LoggedTest(output)
{
    private const string Host = "upload.test";
    private const int Declared = 1024 * 1024;
    private const int Sent = 100;

    [Fact]
    public async Task Uploader_stalling_mid_body_is_cut_by_the_edge_while_other_traffic_completes()
    {
        using var timeout = new CancellationTokenSource(TestTimeout);
        var stalledOutcome = new TaskCompletionSource<(long Received, Exception? Error)>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var backend = await BackendHttpServer.StartAsync(async context =>
        {
            var (received, error) = await ReadPatternAsync(context);
            if (context.Request.Path == "/stalled")
            {
                stalledOutcome.TrySetResult((received, error));
            }
            if (error is null)
            {
                await context.Response.WriteAsync(received.ToString(CultureInfo.InvariantCulture), context.RequestAborted);
            }
        });
        await using var tunnel = await WarrenHarness.StartAsync(Log, new HarnessOptions
        {
            Services = h => [h.HttpService("app", WarrenHarness.AppHost), h.HttpService("upload", Host, backend.Uri)],
        });

        using var stalled = await ClientConnection.ConnectAsync(tunnel.Edge.HttpPort!.Value, timeout.Token);
        var head = Encoding.ASCII.GetBytes($"POST /stalled HTTP/1.1\r\nHost: {Host}\r\nContent-Length: {Declared}\r\n\r\n");
        var part = new byte[Sent];
        BackendPattern.Fill(part, 0);
        await stalled.Socket.SendAsync(head.Concat(part).ToArray(), SocketFlags.None, timeout.Token);
        var clock = Stopwatch.StartNew();

        // Meanwhile, on the same edge: downloads and full uploads, byte-exact.
        await Task.WhenAll(Enumerable.Range(0, 10).Select(i => i % 2 == 0
            ? ClientDownload.VerifiedAsync(tunnel, tunnel.Client, 4 * 1024 * 1024, timeout.Token)
            : UploadAsync(tunnel, 4 * 1024 * 1024, timeout.Token)));
        Log.Note($"10 transfers beside the stalled upload completed in {clock.Elapsed.TotalSeconds:0.0} s");

        // The edge's body rate limit and the backend's own Kestrel one (same defaults) race to end it; either way the
        // backend's request fails after intact bytes, never completing. The edge's HTTP client may still hold the
        // 100 bytes in its write buffer (it flushes request bodies in larger writes), so the backend sees 0 to 100.
        var (received, error) = await Wait.WithTimeoutAsync(stalledOutcome.Task, TimeSpan.FromSeconds(45), "the backend's view of the stalled upload");
        Log.Note($"stalled upload at the backend: {(error is null ? "completed" : "aborted")} after {received} intact bytes ({error?.GetType().Name}: {error?.Message}), {clock.Elapsed.TotalSeconds:0.0} s after it stalled");
        Assert.NotNull(error);
        Assert.InRange(received, 0, Sent);

        // What the client sees: at most an error response, then the connection closes.
        var answer = new MemoryStream();
        var buffer = new byte[4096];
        try
        {
            int n;
            while ((n = await stalled.Socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token)) > 0)
            {
                answer.Write(buffer, 0, n);
            }
        }
        catch (SocketException)
        {
        }
        var text = Encoding.ASCII.GetString(answer.ToArray());
        Log.Note($"the stalled client got: {(text.Length == 0 ? "(nothing)" : text.Split("\r\n")[0])}, then the connection closed");
        Assert.DoesNotContain(" 200 ", text.Split("\r\n")[0], StringComparison.Ordinal);
    }

    private static async Task UploadAsync(WarrenHarness tunnel, int size, CancellationToken cancellationToken)
    {
        var body = new byte[size];
        BackendPattern.Fill(body, 0);
        using var request = tunnel.Request(HttpMethod.Post, "/upload", Host);
        request.Content = new ByteArrayContent(body);
        using var response = await tunnel.Client.SendAsync(request, cancellationToken);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(size.ToString(CultureInfo.InvariantCulture), await response.Content.ReadAsStringAsync(cancellationToken));
    }

    /// <summary>Reads the request body, checking each byte against the pattern; returns how much arrived and how it ended.</summary>
    private static async Task<(long Received, Exception? Error)> ReadPatternAsync(HttpContext context)
    {
        var verifier = new Mod251Verifier();
        var buffer = new byte[64 * 1024];
        try
        {
            int n;
            while ((n = await context.Request.Body.ReadAsync(buffer, context.RequestAborted)) > 0)
            {
                verifier.Check(buffer.AsSpan(0, n));
            }
            return (verifier.Verified, null);
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or BadHttpRequestException)
        {
            return (verifier.Verified, ex);
        }
    }
}
