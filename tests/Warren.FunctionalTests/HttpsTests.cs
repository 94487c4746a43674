using System.Globalization;
using System.Net;
using System.Net.Http;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Warren.Configuration;
using Xunit.Abstractions;

namespace Warren.FunctionalTests;

/// <summary>
/// The edge's public HTTPS listener: the certificate is chosen by SNI (exact name, then a one-label wildcard),
/// HTTP/2 is negotiated by ALPN, and a handshake for an unknown name or without SNI fails without hurting the edge.
/// </summary>
public sealed class HttpsTests : LoggedTest
{
    private const string WildcardHost = "a.tls.test";
    private const string ExactHost = "exact.other.test";
    private const string IdnHost = "xn--bcher-kva.other.test"; // bücher.other.test
    private const string RejectionMetric = "warren_edge_tls_handshake_failures_total{reason=\"unknown_name\"}";

    private readonly string _certDirectory;
    private readonly byte[] _wildcardCertificate;
    private readonly byte[] _exactCertificate;
    private readonly byte[] _idnCertificate;
    private readonly IReadOnlyList<CertificateConfig> _certificates;

    public HttpsTests(ITestOutputHelper output)
        : base(output)
    {
        _certDirectory = TempDirectory("warren-ft-https-");
        var wildcard = WriteSelfSigned("wildcard", "*.tls.test");
        var exact = WriteSelfSigned("exact", ExactHost);
        var idn = WriteSelfSigned("idn", IdnHost);
        _wildcardCertificate = wildcard.RawData;
        _exactCertificate = exact.RawData;
        _idnCertificate = idn.RawData;
        _certificates =
        [
            new CertificateConfig { Hosts = ["*.tls.test"], Cert = wildcard.CertPath, Key = wildcard.KeyPath },
            new CertificateConfig { Hosts = [ExactHost], Cert = exact.CertPath, Key = exact.KeyPath },
            new CertificateConfig { Hosts = [IdnHost], Cert = idn.CertPath, Key = idn.KeyPath },
        ];
    }

    [Fact]
    public async Task Certificate_is_chosen_by_SNI_wildcard_then_exact_and_requests_reach_the_backend()
    {
        await using var tunnel = await StartTunnelAsync();

        // The IDN name: SslStream hands the edge its SNI decoded to Unicode ("bücher.other.test"), which matched no
        // certificate configured by its A-label until names were compared in one normal form.
        foreach (var (host, expected, name) in new[] { (WildcardHost, _wildcardCertificate, "*.tls.test"), (ExactHost, _exactCertificate, ExactHost), (IdnHost, _idnCertificate, IdnHost) })
        {
            using var client = CreateHttpsClient(tunnel, host, out var presented);
            using var request = new HttpRequestMessage(HttpMethod.Get, $"https://{host}/echo?via=tls");
            using var response = await client.SendAsync(request).WaitAsync(TestTimeout);
            var body = await response.Content.ReadAsStringAsync();

            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var lines = body.Split('\n');
            Assert.Equal("GET /echo?via=tls", lines[0]);
            Assert.Contains($"Host: {host}", lines);
            Assert.Contains("X-Forwarded-Proto: https", lines);
            var certificate = presented();
            Assert.NotNull(certificate);
            Assert.True(certificate.AsSpan().SequenceEqual(expected), $"{host}: the edge presented {X509CertificateLoader.LoadCertificate(certificate).Subject}, expected the {name} certificate");
        }
    }

    [Fact]
    public async Task Http2_is_negotiated_by_ALPN_and_the_body_arrives()
    {
        await using var tunnel = await StartTunnelAsync();
        using var client = CreateHttpsClient(tunnel, WildcardHost, out var presented);

        using var request = new HttpRequestMessage(HttpMethod.Get, $"https://{WildcardHost}/echo?h=2")
        {
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
        };
        using var response = await client.SendAsync(request).WaitAsync(TestTimeout);
        var body = await response.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(HttpVersion.Version20, response.Version);
        var lines = body.Split('\n');
        Assert.Equal("GET /echo?h=2", lines[0]);
        Assert.Contains($"Host: {WildcardHost}", lines);
        Assert.True(presented().AsSpan().SequenceEqual(_wildcardCertificate), "the wildcard certificate was presented over HTTP/2");
    }

    [Fact]
    public async Task Handshake_for_an_unknown_name_or_without_SNI_fails_is_counted_and_the_edge_keeps_serving()
    {
        await using var tunnel = await StartTunnelAsync();
        using var admin = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        var before = await RejectionsAsync(admin, tunnel);

        // An unknown name: no exact entry and no "*.example" wildcard.
        var unknown = await HandshakeFailureAsync(tunnel, "nobody.example");
        Log.Note($"unknown name: {unknown.GetType().Name}: {unknown.Message}");
        // An IP literal as the target host: SslStream sends no SNI extension for it.
        var noSni = await HandshakeFailureAsync(tunnel, "127.0.0.1");
        Log.Note($"no SNI: {noSni.GetType().Name}: {noSni.Message}");

        await Wait.UntilAsync(async () => await RejectionsAsync(admin, tunnel) >= before + 2, "the edge counted both refused handshakes");
        Assert.Equal(before + 2, await RejectionsAsync(admin, tunnel));

        // The edge keeps serving: a good handshake and request right after.
        using var client = CreateHttpsClient(tunnel, WildcardHost, out var presented);
        using var response = await client.GetAsync(new Uri($"https://{WildcardHost}/echo")).WaitAsync(TestTimeout);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.StartsWith("GET /echo", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.True(presented().AsSpan().SequenceEqual(_wildcardCertificate), "the wildcard certificate was presented after the refusals");
        Assert.Equal(before + 2, await RejectionsAsync(admin, tunnel));
    }

    private Task<WarrenHarness> StartTunnelAsync() => WarrenHarness.StartAsync(Log, new HarnessOptions
    {
        HttpsListen = "127.0.0.1:0",
        Certificates = _certificates,
        AllowHosts = [WildcardHost, ExactHost, IdnHost],
        Services = h => [h.HttpService("wild", WildcardHost), h.HttpService("exact", ExactHost), h.HttpService("idn", IdnHost)],
    });

    /// <summary>
    /// A client whose every connection goes to the edge's HTTPS port with SNI <paramref name="host"/>; the
    /// certificate the edge presented is read back with <paramref name="presented"/>. Self-signed, so the
    /// validation callback accepts it and the test compares it byte for byte instead.
    /// </summary>
    private static HttpClient CreateHttpsClient(WarrenHarness tunnel, string host, out Func<byte[]?> presented)
    {
        var port = tunnel.Edge.HttpsPort ?? throw new InvalidOperationException("the edge has no HTTPS listener");
        byte[]? captured = null;
        presented = () => Volatile.Read(ref captured);
        return TestClients.Create(port: port, timeout: TimeSpan.FromSeconds(30), tls: new SslClientAuthenticationOptions
        {
            TargetHost = host,
            RemoteCertificateValidationCallback = (_, certificate, _, _) =>
            {
                if (certificate is not null)
                {
                    Volatile.Write(ref captured, certificate.GetRawCertData());
                }
                return certificate is not null;
            },
        });
    }

    /// <summary>A bare TLS handshake with <paramref name="targetHost"/>; it must fail, and the exception is returned.</summary>
    private static async Task<Exception> HandshakeFailureAsync(WarrenHarness tunnel, string targetHost)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, tunnel.Edge.HttpsPort!.Value);
        await using var tls = new SslStream(tcp.GetStream(), leaveInnerStreamOpen: false);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var options = new SslClientAuthenticationOptions
        {
            TargetHost = targetHost,
            // Were any certificate presented, accepting it lets the handshake succeed and the test fail on that.
            RemoteCertificateValidationCallback = (_, certificate, _, _) => certificate is not null,
        };
        var failure = await Record.ExceptionAsync(() => tls.AuthenticateAsClientAsync(options, timeout.Token));
        Assert.NotNull(failure);
        Assert.True(failure is AuthenticationException or IOException, $"handshake with '{targetHost}': expected AuthenticationException or IOException, got {failure}");
        return failure;
    }

    /// <summary>The edge's count of refused public handshakes (the SNI selector's rejections), from its /metrics.</summary>
    private static async Task<long> RejectionsAsync(HttpClient admin, WarrenHarness tunnel)
    {
        var text = await admin.GetStringAsync(new Uri($"http://127.0.0.1:{tunnel.Edge.AdminPort}/metrics"));
        foreach (var line in text.Split('\n'))
        {
            if (line.StartsWith(RejectionMetric + " ", StringComparison.Ordinal))
            {
                return (long)double.Parse(line[(RejectionMetric.Length + 1)..], CultureInfo.InvariantCulture);
            }
        }
        return 0;
    }

    private (string CertPath, string KeyPath, byte[] RawData) WriteSelfSigned(string fileName, string dnsName) =>
        SelfSignedCertificates.Write(_certDirectory, fileName, dnsName);
}
