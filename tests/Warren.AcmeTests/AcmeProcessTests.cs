using System.Globalization;
using System.Net.Http;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Warren.Agent;
using Xunit.Abstractions;

namespace Warren.AcmeTests;

/// <summary>
/// ACME through the real <c>warren edge</c> process, as released: .ci/run runs this class again against the published
/// release binary (trimmed, <c>WARREN_TEST_EXECUTABLE</c>), where the ACME client's JSON, JWS signing and certificate
/// handling is framework code a trim could have left out.
/// </summary>
public sealed class AcmeProcessTests(ITestOutputHelper output) : AcmeTest(output)
{
    [Fact]
    public async Task The_edge_process_gets_a_certificate_for_a_registered_hostname_and_serves_the_service_over_it()
    {
        const string host = "app.process.test";
        var httpPort = ReservePort();
        var httpsPort = ReservePort();
        var pebble = Own(await Pebble.StartAsync(Log, ReservePort, httpPort, httpsPort));
        var backends = Own(await WarrenHarness.StartAsync(Log, new HarnessOptions { StartAgent = false }));
        var token = WarrenHarness.NewToken();
        var yaml = await EdgeProcess.WriteConfigAsync(TempDirectory(), token, "*.process.test", httpPort, httpsPort, moreYaml: string.Create(CultureInfo.InvariantCulture, $"""
            acme:
              directory: {pebble.DirectoryUrl}
              email: ops@example.com
              agree_to_terms: true
              ca_bundle: {pebble.CaBundlePath}
              challenges: [http-01]

            """));
        var edge = Own(await EdgeProcess.StartAsync(Log, "edge", yaml));
        var agent = Own(new WarrenAgent(edge.AgentConfig(token, [backends.HttpService("app", host)]), Log.Factory));
        agent.Start();

        // Until Pebble has issued, the handshake fails: the edge has no certificate for the name that Pebble's root signed.
        X509Certificate2? certificate = null;
        await Wait.UntilAsync(async () =>
        {
            try
            {
                certificate = await GetEchoOverHttpsAsync(httpsPort, pebble, host);
                return true;
            }
            catch (HttpRequestException ex) when (ex.InnerException is AuthenticationException or IOException || ex.HttpRequestError is HttpRequestError.SecureConnectionError)
            {
                return false;
            }
        }, $"the edge process serves a certificate Pebble issued for {host}", IssueTimeout);

        Assert.Equal([host], DnsNames(certificate!));
        Assert.Equal(1, pebble.OrdersCreated);
    }
}
