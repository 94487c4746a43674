using System.Net;
using System.Net.Http;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Warren.Configuration;

namespace Warren.SecurityTests.Harness;

/// <summary>
/// A self-signed ECDSA certificate for one hostname, written as PEM files for the edge's HTTPS listener
/// (<see cref="Https"/>), and pinned by its SHA-256 on the test's own clients.
/// </summary>
internal sealed class SelfSignedCertificate
{
    private SelfSignedCertificate(CertificateConfig config, string fingerprint) => (Config, Fingerprint) = (config, fingerprint);

    public CertificateConfig Config { get; }

    public string Fingerprint { get; }

    /// <summary>Writes the certificate for <paramref name="host"/> and its key into <paramref name="directory"/>.</summary>
    public static SelfSignedCertificate Write(string directory, string host)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={host}", key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName(host);
        request.CertificateExtensions.Add(san.Build());
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
        var cert = Path.Combine(directory, host + ".crt");
        var keyPath = Path.Combine(directory, host + ".key");
        File.WriteAllText(cert, certificate.ExportCertificatePem());
        File.WriteAllText(keyPath, key.ExportPkcs8PrivateKeyPem());
        return new SelfSignedCertificate(new CertificateConfig { Hosts = [host], Cert = cert, Key = keyPath },
            Convert.ToHexStringLower(SHA256.HashData(certificate.RawData)));
    }

    /// <summary>Harness options for an HTTPS listener (HTTP/1.1 and HTTP/2) on loopback serving this certificate.</summary>
    public HarnessOptions Https(HarnessOptions options) => options with { HttpsListen = "127.0.0.1:0", Certificates = [Config] };

    /// <summary>True for this certificate (the test clients' validation).</summary>
    public bool Matches(X509Certificate? certificate) =>
        certificate is not null && Convert.ToHexStringLower(SHA256.HashData(certificate.GetRawCertData())) == Fingerprint;

    /// <summary>
    /// An HTTP/2-only client of the HTTPS listener on <paramref name="port"/> that reaches 127.0.0.1 whatever the
    /// request's host, which it still names (SNI and :authority), trusting only this certificate.
    /// </summary>
    public HttpClient CreateHttp2Client(int port) => new(new SocketsHttpHandler
    {
        UseProxy = false,
        SslOptions = { RemoteCertificateValidationCallback = (_, certificate, _, _) => Matches(certificate) },
        ConnectCallback = async (_, cancellationToken) =>
        {
            var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                await socket.ConnectAsync(IPAddress.Loopback, port, cancellationToken);
                return new NetworkStream(socket, ownsSocket: true);
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        },
    })
    {
        DefaultRequestVersion = HttpVersion.Version20,
        DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
        Timeout = TimeSpan.FromSeconds(30),
    };
}
