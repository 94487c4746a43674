using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Time.Testing;
using Warren.Configuration;
using Xunit.Abstractions;

namespace Warren.AcmeTests;

/// <summary>
/// Until a name's first certificate exists (here the CA cannot be reached at all), a handshake for it gets the
/// operator's fallback certificate, or, without one, a clear unrecognized_name alert; never another name's
/// certificate, and names the edge does not wait for are refused either way.
/// </summary>
public sealed class FallbackTests(ITestOutputHelper output) : AcmeTest(output)
{
    private const string Waiting = "site.wait.test";

    [Fact]
    public async Task A_name_waiting_for_its_certificate_gets_the_fallback_and_other_names_are_refused()
    {
        var folder = TempDirectory("warren-fallback-");
        var fallback = WriteSelfSigned(folder, "warren-fallback");
        var tunnel = await StartWaitingEdgeAsync(acme => acme with { FallbackCert = fallback.Cert, FallbackKey = fallback.Key });

        var presented = await HandshakeAsync(tunnel, Waiting);
        Assert.Equal(fallback.Certificate.Thumbprint, presented.Thumbprint);
        await AssertRefusedAsync(tunnel, "other.wait.test");
        await AssertRefusedAsync(tunnel, "127.0.0.1");
    }

    [Fact]
    public async Task Without_a_fallback_a_waiting_name_is_refused_with_unrecognized_name_and_the_failure_is_reported()
    {
        var tunnel = await StartWaitingEdgeAsync(acme => acme);

        await AssertRefusedAsync(tunnel, Waiting);
        var status = Assert.Single(tunnel.Edge.Acme!.Snapshot());
        Assert.Equal("failing", status.State);
        Assert.Equal("config", status.Source);
        Assert.Contains("could not reach the CA", status.LastError, StringComparison.Ordinal);
        Assert.True(Log.Contains("AcmeIssueFailed"), "the failed issuance is logged");
    }

    /// <summary>An edge with acme.hosts = [site.wait.test] and a directory where nothing listens; waits for the first failure.</summary>
    private async Task<WarrenHarness> StartWaitingEdgeAsync(Func<AcmeConfig, AcmeConfig> configure)
    {
        var closed = ReservePort();
        var acme = configure(new AcmeConfig { Directory = $"https://127.0.0.1:{closed}/dir", AgreeToTerms = true, Hosts = [Waiting] });
        var tunnel = Own(await WarrenHarness.StartAsync(Log, new HarnessOptions
        {
            HttpsListen = "127.0.0.1:0",
            ConfigureEdge = c => c with { Acme = acme },
            StartAgent = false,
            // The schedule's clock stands still: one attempt, no retries during the test.
            Time = new FakeTimeProvider(DateTimeOffset.UtcNow),
        }));
        await Wait.UntilAsync(() => tunnel.Edge.Acme!.Snapshot() is [{ Failures: 1 }], "the first issuance attempt failed", IssueTimeout);
        return tunnel;
    }

    private static async Task<X509Certificate2> HandshakeAsync(WarrenHarness tunnel, string name)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, tunnel.Edge.HttpsPort!.Value);
        await using var tls = new SslStream(tcp.GetStream());
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = name, RemoteCertificateValidationCallback = (_, c, _, _) => c is not null }, timeout.Token);
        return X509CertificateLoader.LoadCertificate(tls.RemoteCertificate!.GetRawCertData());
    }

    private static async Task AssertRefusedAsync(WarrenHarness tunnel, string name)
    {
        var failure = await Record.ExceptionAsync(() => HandshakeAsync(tunnel, name));
        Assert.True(failure is AuthenticationException or IOException, $"handshake for {name}: expected a refusal, got {failure?.ToString() ?? "a certificate"}");
        Assert.Contains("unrecognized name", failure!.ToString(), StringComparison.OrdinalIgnoreCase);
    }

    private static (string Cert, string Key, X509Certificate2 Certificate) WriteSelfSigned(string folder, string name)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=" + name, key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName(name);
        request.CertificateExtensions.Add(san.Build());
        var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
        var cert = Path.Combine(folder, name + ".crt");
        var keyPath = Path.Combine(folder, name + ".key");
        File.WriteAllText(cert, certificate.ExportCertificatePem());
        File.WriteAllText(keyPath, key.ExportPkcs8PrivateKeyPem());
        return (cert, keyPath, certificate);
    }
}
