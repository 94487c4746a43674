using System.Net.Sockets;
using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core.Features;
using Warren.Configuration;
using Warren.Testing.Backends;
using Xunit.Abstractions;

namespace Warren.FunctionalTests;

/// <summary>
/// A request body that arrives slowly reaches the backend as it arrives (issue 12): the edge's HTTP client held
/// request-body writes in its buffer until the body ended, so a backend streaming an upload saw nothing until then.
/// </summary>
public sealed class TrickledUploadTests(ITestOutputHelper output) : LoggedTest(output)
{
    private const string Host = "upload.test";

    [Fact]
    public async Task Each_chunk_of_a_trickled_upload_reaches_the_backend_before_the_next_is_sent()
    {
        var received = 0;
        await using var backend = await BackendHttpServer.StartAsync(async context =>
        {
            // The test paces the chunks by what arrives; no minimum rate may cut it on a loaded machine.
            context.Features.Get<IHttpMinRequestBodyDataRateFeature>()!.MinDataRate = null;
            var buffer = new byte[1024];
            int n;
            while ((n = await context.Request.Body.ReadAsync(buffer, context.RequestAborted)) > 0)
            {
                Interlocked.Add(ref received, n);
            }
            await context.Response.WriteAsync("got " + Volatile.Read(ref received), context.RequestAborted);
        });
        await using var tunnel = await WarrenHarness.StartAsync(Log, new HarnessOptions
        {
            Services = h => [h.HttpService("upload", Host, backend.Uri)],
            Limits = new EdgeLimitsConfig { MinRequestBodyDataRate = 0 },
        });
        using var timeout = new CancellationTokenSource(TestTimeout);
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await client.ConnectAsync(System.Net.IPAddress.Loopback, tunnel.HttpPort, timeout.Token);
        await client.SendAsync(Encoding.ASCII.GetBytes($"POST /upload HTTP/1.1\r\nHost: {Host}\r\nContent-Length: 30\r\nConnection: close\r\n\r\n"), SocketFlags.None, timeout.Token);

        for (var chunk = 1; chunk <= 3; chunk++)
        {
            await client.SendAsync(Encoding.ASCII.GetBytes($"chunk-{chunk:0000}"), SocketFlags.None, timeout.Token);
            // The client sends nothing more until the backend has this chunk: without a flush per chunk it never does.
            var expected = 10 * chunk;
            await Wait.UntilAsync(() => Volatile.Read(ref received) == expected, $"the backend to receive {expected} bytes");
        }

        var answer = new StringBuilder();
        var bytes = new byte[4096];
        int read;
        while ((read = await client.ReceiveAsync(bytes, SocketFlags.None, timeout.Token)) > 0)
        {
            answer.Append(Encoding.ASCII.GetString(bytes, 0, read));
        }
        Assert.StartsWith("HTTP/1.1 200", answer.ToString(), StringComparison.Ordinal);
        Assert.Contains("got 30", answer.ToString(), StringComparison.Ordinal); // the body, chunked
    }
}
