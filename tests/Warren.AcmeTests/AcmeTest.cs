using System.Net;
using System.Net.Http;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Warren.Configuration;
using Warren.Testing.Clients;
using Warren.Edge.Acme;
using Xunit.Abstractions;

namespace Warren.AcmeTests;

/// <summary>
/// A real Pebble and a real edge (with an in-process agent and the sample backend) on loopback: Pebble first, on
/// ports chosen for the edge's HTTP and HTTPS listeners, so that its validations reach the edge; then the edge with
/// <c>acme:</c> pointing at Pebble. Clients trust only Pebble's root and connect by name to the edge's HTTPS port.
/// </summary>
public abstract class AcmeTest(ITestOutputHelper output) : LoggedTest(output)
{
    /// <summary>Issuance on a loaded two-core machine: Pebble validates, issues, and the edge swaps it in.</summary>
    protected static readonly TimeSpan IssueTimeout = TimeSpan.FromSeconds(90);

    internal static AcmeConfig AcmeFor(Pebble pebble, params string[] challenges) => new()
    {
        Directory = pebble.DirectoryUrl,
        AgreeToTerms = true,
        Email = "ops@example.com",
        CaBundle = pebble.CaBundlePath,
        Challenges = challenges,
    };

    /// <summary>Starts Pebble, then the edge (HTTP and HTTPS on the ports Pebble validates) and its agent.</summary>
    internal async Task<(Pebble Pebble, WarrenHarness Tunnel)> StartAsync(
        Func<Pebble, AcmeConfig> acme, IReadOnlyList<string> allowHosts, Func<WarrenHarness, IReadOnlyList<ServiceConfig>> services,
        PebbleOptions? pebbleOptions = null, TimeProvider? time = null, bool startAgent = true)
    {
        // The edge's HTTP and HTTPS ports are reserved first: Pebble must know where to validate before the edge starts.
        var httpPort = ReservePort();
        var httpsPort = ReservePort();
        var pebble = Own(await Pebble.StartAsync(Log, ReservePort, httpPort, httpsPort, pebbleOptions));
        var config = acme(pebble);
        var tunnel = Own(await WarrenHarness.StartAsync(Log, new HarnessOptions
        {
            HttpsListen = $"127.0.0.1:{httpsPort}",
            ConfigureEdge = c => c with { Listen = c.Listen with { Http = $"127.0.0.1:{httpPort}" }, Acme = config },
            AllowHosts = allowHosts,
            Services = services,
            Time = time,
            StartAgent = startAgent,
        }));
        return (pebble, tunnel);
    }

    /// <summary>Waits until the edge reports a valid certificate named <paramref name="name"/> and returns its state.</summary>
    internal static async Task<CertificateStatus> WaitForValidAsync(WarrenHarness tunnel, string name, Func<CertificateStatus, bool>? also = null)
    {
        CertificateStatus? status = null;
        await Wait.UntilAsync(() =>
        {
            status = tunnel.Edge.Acme!.Snapshot().FirstOrDefault(c => c.Name == name);
            return status is { State: "valid" } && (also is null || also(status));
        }, $"the edge holds a valid certificate for {name} (last seen: {status})", IssueTimeout);
        return status!;
    }

    /// <summary>
    /// A client that connects every request to the edge's HTTPS port with SNI <paramref name="host"/> and trusts only
    /// Pebble's root: the handshake succeeds only with a certificate Pebble issued for that name.
    /// </summary>
    internal static HttpClient TrustingClient(WarrenHarness tunnel, Pebble pebble, string host, out Func<X509Certificate2?> presented) =>
        TrustingClient(tunnel.Edge.HttpsPort ?? throw new InvalidOperationException("no HTTPS listener"), pebble, host, out presented);

    /// <summary>The same, to the HTTPS listener on 127.0.0.1:<paramref name="port"/> (an edge process).</summary>
    internal static HttpClient TrustingClient(int port, Pebble pebble, string host, out Func<X509Certificate2?> presented)
    {
        X509Certificate2? captured = null;
        presented = () => Volatile.Read(ref captured);
        var trust = new X509ChainPolicy { TrustMode = X509ChainTrustMode.CustomRootTrust, RevocationMode = X509RevocationMode.NoCheck };
        trust.CustomTrustStore.Add(pebble.Root);
        // Every connection to the edge's HTTPS port with SNI host; a new client sees the certificate served now.
        return TestClients.Create(maxConnections: 16, port: port, tls: new SslClientAuthenticationOptions
        {
            TargetHost = host,
            CertificateChainPolicy = trust,
            RemoteCertificateValidationCallback = (_, certificate, _, errors) =>
            {
                if (certificate is not null)
                {
                    Volatile.Write(ref captured, X509CertificateLoader.LoadCertificate(certificate.GetRawCertData()));
                }
                return errors == SslPolicyErrors.None;
            },
        });
    }

    /// <summary>GET https://<paramref name="host"/>/echo through the edge with a Pebble-trusting client; returns the certificate it was served with.</summary>
    internal Task<X509Certificate2> GetEchoOverHttpsAsync(WarrenHarness tunnel, Pebble pebble, string host) =>
        GetEchoOverHttpsAsync(tunnel.Edge.HttpsPort ?? throw new InvalidOperationException("no HTTPS listener"), pebble, host);

    /// <summary>The same, to the HTTPS listener on 127.0.0.1:<paramref name="httpsPort"/> (an edge process).</summary>
    internal async Task<X509Certificate2> GetEchoOverHttpsAsync(int httpsPort, Pebble pebble, string host)
    {
        using var client = TrustingClient(httpsPort, pebble, host, out var presented);
        using var response = await client.GetAsync(new Uri($"https://{host}/echo?acme=1")).WaitAsync(TestTimeout);
        var body = await response.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.StartsWith("GET /echo?acme=1", body, StringComparison.Ordinal);
        Assert.Contains($"Host: {host}", body.Split('\n'));
        var certificate = presented() ?? throw new InvalidOperationException("no certificate captured");
        Log.Note($"{host}: served {certificate.Subject}, issued by {certificate.Issuer}, serial {certificate.SerialNumber}, SANs {string.Join(",", DnsNames(certificate))}");
        return certificate;
    }

    internal static IReadOnlyList<string> DnsNames(X509Certificate2 certificate) =>
        [.. certificate.Extensions.OfType<X509SubjectAlternativeNameExtension>().SelectMany(e => e.EnumerateDnsNames())];
}
