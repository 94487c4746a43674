using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using Warren.Agent;
using Xunit.Abstractions;

namespace Warren.AcmeTests;

/// <summary>
/// docs/security.md "Automatic certificates": only names inside a token's grant, registered by an agent, reach the
/// CA. A name the grant refuses, and names clients ask for in handshakes, never produce an order.
/// </summary>
public sealed class OnDemandTests(ITestOutputHelper output) : AcmeTest(output)
{
    [Fact]
    public async Task On_demand_never_asks_the_CA_for_a_name_no_grant_allows()
    {
        const string granted = "app.granted.test";
        var (pebble, tunnel) = await StartAsync(p => AcmeFor(p, "http-01"), [granted], h => [], startAgent: false);

        // The agent tries to publish a name outside its grant beside its own: that service is refused.
        var agent = new WarrenAgent(tunnel.AgentConfig([tunnel.HttpService("app", granted), tunnel.HttpService("evil", "evil.other.test")]), Log.Factory);
        await using var ___ = agent;
        agent.Start();
        await tunnel.WaitUntilServedAsync("app");
        await WaitForValidAsync(tunnel, granted);

        // Clients asking for other names in handshakes: refused, and nothing is ordered for them.
        foreach (var name in new[] { "evil.other.test", "x.granted.test", "granted.test" })
        {
            var failure = await HandshakeFailureAsync(tunnel, name);
            Assert.Contains("unrecognized name", failure.ToString(), StringComparison.OrdinalIgnoreCase);
        }

        Assert.Equal(1, pebble.OrdersCreated);
        Assert.Equal([granted], tunnel.Edge.Acme!.Snapshot().Select(c => c.Name));
        Assert.Equal(granted, DnsNames(await GetEchoOverHttpsAsync(tunnel, pebble, granted)).Single());
        Assert.True(Log.Contains("evil.other.test is not granted"), "the refused registration is logged");
    }

    [Fact]
    public async Task Past_max_certificates_registered_names_get_no_certificate_and_are_reported()
    {
        string[] hosts = ["one.cap.test", "two.cap.test"];
        var (pebble, tunnel) = await StartAsync(p => AcmeFor(p, "http-01") with { MaxCertificates = 1 }, ["*.cap.test"], h => [], startAgent: false);
        await tunnel.StartAgentAsync([tunnel.HttpService("one", hosts[0])]);
        await WaitForValidAsync(tunnel, hosts[0]);

        // A second name from the same (wide) grant: the route works, but no certificate is ordered for it.
        await tunnel.StopAgentAsync();
        await tunnel.StartAgentAsync([tunnel.HttpService("one", hosts[0]), tunnel.HttpService("two", hosts[1])]);
        await Log.WaitForAsync(TimeSpan.FromSeconds(30), "AcmeCapReached", hosts[1]);

        Assert.Equal([hosts[0]], tunnel.Edge.Acme!.Snapshot().Select(c => c.Name));
        Assert.Equal(1, pebble.OrdersCreated);
        Assert.Equal(1, tunnel.Edge.Acme.Refused);
        Assert.Contains("unrecognized name", (await HandshakeFailureAsync(tunnel, hosts[1])).ToString(), StringComparison.OrdinalIgnoreCase);
    }

    private static async Task<Exception> HandshakeFailureAsync(WarrenHarness tunnel, string name)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, tunnel.Edge.HttpsPort!.Value);
        await using var tls = new SslStream(tcp.GetStream());
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var failure = await Record.ExceptionAsync(() => tls.AuthenticateAsClientAsync(
            new SslClientAuthenticationOptions { TargetHost = name, RemoteCertificateValidationCallback = (_, c, _, _) => c is not null }, timeout.Token));
        Assert.True(failure is AuthenticationException or IOException, $"handshake for {name}: expected a refusal, got {failure?.ToString() ?? "success"}");
        return failure!;
    }
}
