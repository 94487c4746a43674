using Xunit.Abstractions;

namespace Warren.AcmeTests;

/// <summary>
/// Each challenge type issues a real certificate from Pebble for a hostname an agent registered, and a client that
/// trusts only Pebble's root then completes a handshake for that name and gets the service's answer.
/// </summary>
public sealed class ChallengeTests(ITestOutputHelper output) : AcmeTest(output)
{
    [Fact]
    public async Task Http01_issues_a_certificate_for_a_registered_hostname_and_clients_get_the_service_over_it()
    {
        const string host = "app.http01.test";
        var (pebble, tunnel) = await StartAsync(p => AcmeFor(p, "http-01"), [host], h => [h.HttpService("app", host)]);

        var status = await WaitForValidAsync(tunnel, host);

        var certificate = await GetEchoOverHttpsAsync(tunnel, pebble, host);
        Assert.Equal([host], DnsNames(certificate));
        Assert.Equal("on_demand", status.Source);
        Assert.Equal(1, pebble.OrdersCreated);
        Assert.True(Log.Contains("ACME http-01 challenge for app.http01.test is valid"), "the edge answered http-01");
    }

    [Fact]
    public async Task TlsAlpn01_issues_a_certificate_answered_in_the_handshake()
    {
        const string host = "app.alpn.test";
        var (pebble, tunnel) = await StartAsync(p => AcmeFor(p, "tls-alpn-01"), [host], h => [h.HttpService("app", host)]);

        await WaitForValidAsync(tunnel, host);

        var certificate = await GetEchoOverHttpsAsync(tunnel, pebble, host);
        Assert.Equal([host], DnsNames(certificate));
        Assert.True(Log.Contains("ACME tls-alpn-01 challenge for app.alpn.test is valid"), "the edge answered tls-alpn-01");
    }

    [Fact]
    public async Task A_CA_that_requires_external_account_binding_gets_it()
    {
        const string host = "app.eab.test";
        const string kid = "kid-1";
        const string macKey = "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W";
        var (pebble, tunnel) = await StartAsync(p => AcmeFor(p, "http-01") with { EabKid = kid, EabHmacKey = macKey }, [host], h => [h.HttpService("app", host)],
            new PebbleOptions { EabKeys = new Dictionary<string, string> { [kid] = macKey } });

        await WaitForValidAsync(tunnel, host);

        Assert.Equal([host], DnsNames(await GetEchoOverHttpsAsync(tunnel, pebble, host)));
        Assert.Equal(1, pebble.AccountsCreated);
    }
}
