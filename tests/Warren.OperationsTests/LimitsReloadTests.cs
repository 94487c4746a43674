using System.Net;
using System.Net.Http;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using Warren.Configuration;
using Warren.Edge.Limits;
using Warren.OperationsTests.Harness;
using Xunit.Abstractions;

namespace Warren.OperationsTests;

/// <summary>
/// edge.yaml <c>limits</c> on reload (docs/operations.md, "Reload"): those whose limiter can take a new value apply at
/// once to what comes next, the others are named as needing a restart, each by its own key.
/// </summary>
public sealed partial class LimitsReloadTests(ITestOutputHelper output) : LoggedTest(output)
{
    [Fact]
    public async Task A_reload_applies_a_new_body_size_and_TCP_per_IP_cap_at_once_and_names_max_connections_as_needing_a_restart()
    {
        var port = ReservePort();
        await using var tunnel = await WarrenHarness.StartAsync(Log, new HarnessOptions
        {
            AllowPorts = [port],
            Services = h => [h.HttpService("app", WarrenHarness.AppHost), new ServiceConfig { Name = "echo", Port = port, Target = new Uri($"tcp://127.0.0.1:{h.TcpEcho.Port}") }],
        });
        using var timeout = new CancellationTokenSource(TestTimeout);
        var started = tunnel.Edge.Config;
        Assert.Equal(HttpStatusCode.OK, await PostAsync(tunnel, 2000));
        using var first = await EchoConnection.ConnectAsync(port, timeout.Token);
        Assert.Equal("one", await first.EchoAsync("one", timeout.Token));

        var result = await tunnel.Edge.ReloadAsync(started with
        {
            Limits = started.Limits with { MaxRequestBodySize = 1000, MaxTcpConnectionsPerIp = 1, MaxConnections = 5 },
        });

        Assert.True(result.Ok, result.ToString());
        Assert.Equal(["limits.max_request_body_size", "limits.max_tcp_connections_per_ip"], result.Applied);
        Assert.Equal(["limits.max_connections"], result.RestartRequired);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, await PostAsync(tunnel, 2000));
        Assert.Equal(HttpStatusCode.OK, await PostAsync(tunnel, 500));
        var refused = await Assert.ThrowsAsync<SocketException>(async () =>
        {
            using var second = await EchoConnection.ConnectAsync(port, timeout.Token);
            await second.EchoAsync("two", timeout.Token);
        });
        Assert.Equal(SocketError.ConnectionReset, refused.SocketErrorCode);
        Assert.Equal("still", await first.EchoAsync("still", timeout.Token)); // what is open keeps what it has
        Assert.Equal(1000, tunnel.Edge.Config.Limits.MaxRequestBodySize);
        Assert.Equal(started.Limits.MaxConnections, tunnel.Edge.Config.Limits.MaxConnections); // in force until a restart

        var back = await tunnel.Edge.ReloadAsync(started);
        Assert.True(back.Ok, back.ToString());
        Assert.Equal(["limits.max_request_body_size", "limits.max_tcp_connections_per_ip"], back.Applied);
        Assert.Empty(back.RestartRequired);
        Assert.Equal(HttpStatusCode.OK, await PostAsync(tunnel, 2000));
        using var third = await EchoConnection.ConnectAsync(port, timeout.Token);
        Assert.Equal("three", await third.EchoAsync("three", timeout.Token));
    }

    [Fact]
    public void Every_limit_is_either_applied_live_or_named_as_needing_a_restart()
    {
        var keys = typeof(EdgeLimitsConfig).GetProperties().Select(p => "limits." + SnakeCase().Replace(p.Name, "_$1").ToLowerInvariant()).Order().ToArray();
        Assert.Equal(keys, LiveLimits.AllKeys.Order().ToArray());
    }

    [GeneratedRegex("(?<=[a-z0-9])([A-Z])")]
    private static partial Regex SnakeCase();

    /// <summary>A POST on a new connection: Kestrel takes its body-size limit when a connection starts.</summary>
    private static async Task<HttpStatusCode> PostAsync(WarrenHarness tunnel, int bytes)
    {
        using var request = tunnel.Request(HttpMethod.Post, "/sha256");
        request.Content = new ByteArrayContent(new byte[bytes]);
        using var client = new HttpClient();
        using var response = await client.SendAsync(request);
        return response.StatusCode;
    }
}
