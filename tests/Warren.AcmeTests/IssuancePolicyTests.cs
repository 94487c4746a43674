using Warren.Configuration;
using Warren.Edge.Acme;
using Warren.Edge.Tokens;

namespace Warren.AcmeTests;

/// <summary>IssuancePolicy alone: which registered name maps to which certificate, and which get none (docs/https.md).</summary>
public sealed class IssuancePolicyTests
{
    private static readonly TokenGrant Grant = new("office", ["app.example.com", "*.apps.example.com"], []);

    private static IssuancePolicy Policy(bool dns, bool onDemand = true, params CertificateConfig[] operatorCertificates) =>
        new(new AcmeConfig { OnDemand = onDemand }, operatorCertificates, dns);

    [Theory]
    [InlineData("app.example.com", false, "app.example.com")]
    [InlineData("a.apps.example.com", false, "a.apps.example.com")]
    [InlineData("a.apps.example.com", true, "*.apps.example.com")]
    [InlineData("a.b.apps.example.com", true, "a.b.apps.example.com")]
    [InlineData("*.apps.example.com", true, "*.apps.example.com")]
    public void Granted_names_map_to_their_certificate(string host, bool dns, string expected) =>
        Assert.Equal(expected, Policy(dns).CertificateFor(host, Grant, out _));

    [Theory]
    [InlineData("evil.example.com", "is not granted")]
    [InlineData("example.com", "is not granted")]
    [InlineData("*.apps.example.com", "needs dns-01")]
    [InlineData("bad_name.apps.example.com", "not a DNS name")]
    public void Other_names_get_none_with_a_reason(string host, string reason)
    {
        Assert.Null(Policy(dns: false).CertificateFor(host, Grant, out var why));
        Assert.Contains(reason, why, StringComparison.Ordinal);
    }

    [Fact]
    public void Names_an_operator_certificate_covers_and_on_demand_off_get_none()
    {
        var covered = Policy(dns: true, onDemand: true, new CertificateConfig { Hosts = ["*.apps.example.com"] });
        Assert.Null(covered.CertificateFor("a.apps.example.com", Grant, out var why));
        Assert.Contains("certificates", why, StringComparison.Ordinal);

        Assert.Null(Policy(dns: true, onDemand: false).CertificateFor("app.example.com", Grant, out why));
        Assert.Contains("on_demand is off", why, StringComparison.Ordinal);
    }
}
