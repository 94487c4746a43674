using System.Net;
using System.Net.Http;
using System.Net.Sockets;
using System.Text;
using Warren.Demo;
using Xunit.Abstractions;

namespace Warren.FunctionalTests;

public sealed class DemoTests(ITestOutputHelper output) : LoggedTest(output)
{
    [Fact]
    public async Task Demo_serves_its_HTTP_app_and_TCP_echo_end_to_end()
    {
        using var timeout = new CancellationTokenSource(TestTimeout);
        await using var demo = await DemoEnvironment.StartAsync(0, 0, Log.Factory, timeout.Token);
        Log.Note(demo.Banner());
        // nc -q1 is one netcat's flag (Debian's traditional one); OpenBSD's and BusyBox's refuse it.
        Assert.DoesNotContain("nc -q", demo.Banner(), StringComparison.Ordinal);
        Assert.Contains($"nc 127.0.0.1 {demo.TcpEdgePort}", demo.Banner(), StringComparison.Ordinal);
        using var client = TestClients.Create();

        using var request = new HttpRequestMessage(HttpMethod.Get, $"http://127.0.0.1:{demo.Edge.HttpPort}/echo");
        request.Headers.Host = DemoEnvironment.AppHost;
        using var response = await client.SendAsync(request, timeout.Token);
        var body = await response.Content.ReadAsStringAsync(timeout.Token);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.StartsWith("GET /echo\n", body, StringComparison.Ordinal);
        Assert.Contains($"\nHost: {DemoEnvironment.AppHost}\n", body, StringComparison.Ordinal);

        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, demo.TcpEdgePort), timeout.Token);
        await socket.SendAsync("ping through the demo\n"u8.ToArray(), SocketFlags.None, timeout.Token);
        socket.Shutdown(SocketShutdown.Send);
        var echoed = new MemoryStream();
        var buffer = new byte[1024];
        int n;
        while ((n = await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token)) > 0)
        {
            echoed.Write(buffer, 0, n);
        }

        Assert.Equal("ping through the demo\n", Encoding.UTF8.GetString(echoed.ToArray()));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(150)]
    [InlineData(400)]
    public async Task Ctrl_C_while_the_demo_starts_stops_it_cleanly_and_leaves_no_folder(int delayAfterStartMs)
    {
        // A folder of the test's own as the process's temporary folder: the demo makes its data folder there, so the
        // test sees when the command has begun to start it, and that it is gone after the stop.
        var temp = Directory.CreateTempSubdirectory("warren-demo-test-");
        try
        {
            await using var process = WarrenProcess.Start(Log, "demo", ["demo", "--http-port", "0"], new Dictionary<string, string> { ["TMPDIR"] = temp.FullName });
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
            while (temp.GetDirectories("warren-demo-*").Length == 0)
            {
                Assert.False(process.HasExited, "the demo exited before it started:\n" + process.StandardError);
                Assert.True(DateTime.UtcNow < deadline, "the demo made no data folder within 30 s");
                await Task.Delay(5);
            }
            await Task.Delay(delayAfterStartMs);

            await process.TerminateAsync();
            var exitCode = await process.WaitForExitAsync(TimeSpan.FromSeconds(30));

            // Killed by the signal (143) is what happened while System.CommandLine had no handler installed yet; a
            // stop during the wait for the agent used to be reported as a 15 s registration timeout.
            Assert.Equal(0, exitCode);
            Assert.Contains("Stopping the demo...", process.StandardOutput, StringComparison.Ordinal);
            Assert.DoesNotContain("did not register", process.StandardError, StringComparison.Ordinal);
            Assert.DoesNotContain("did not authenticate", process.StandardOutput, StringComparison.Ordinal);
            Assert.Empty(temp.GetDirectories("warren-demo-*"));
        }
        finally
        {
            temp.Delete(recursive: true);
        }
    }
}
