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
}
