using System.Net;
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Warren.Configuration;
using Warren.Edge.Hosting;

namespace Warren.Edge.Tls;

/// <summary>Certificates for the edge: the public ones chosen by SNI, and the agent link's (configured or self-signed).</summary>
internal static class EdgeCertificates
{
    /// <summary>
    /// A PEM certificate file (leaf first, then its chain) and key, ready for SslStream: the chain is sent in the
    /// handshake, and OCSP stapling is on where the platform offers it (Linux, for certificates with an OCSP URL).
    /// </summary>
    public static SslStreamCertificateContext LoadContext(string certPath, string keyPath) =>
        CreateContext(Acme.CertificateStore.LoadChain(certPath, keyPath));

    /// <summary>A context from a chain whose first certificate is the leaf with its private key.</summary>
    public static SslStreamCertificateContext CreateContext(X509Certificate2Collection chain)
    {
        var intermediates = new X509Certificate2Collection();
        for (var i = 1; i < chain.Count; i++)
        {
            intermediates.Add(chain[i]);
        }
        return SslStreamCertificateContext.Create(chain[0], intermediates, offline: false);
    }

    public static X509Certificate2 LoadPem(string certPath, string keyPath)
    {
        using var pem = X509Certificate2.CreateFromPemFile(certPath, keyPath);
        // Re-import so the private key is usable by SslStream on every platform.
        return X509CertificateLoader.LoadPkcs12(pem.Export(X509ContentType.Pkcs12), null);
    }

    /// <summary>
    /// The agent listener's certificate: the configured one, else a self-signed ECDSA P-256 certificate created on
    /// first start and kept in the data directory, so its fingerprint stays stable for agents that pin it.
    /// </summary>
    public static X509Certificate2 LoadOrCreateAgentCertificate(EdgeConfig config)
    {
        if (config.AgentTls is { Cert: { } cert, Key: { } key })
        {
            return LoadPem(cert, key);
        }
        PrivateFiles.CreateFolder(config.DataDirectory);
        var certPath = Path.Combine(config.DataDirectory, "agent-link.crt");
        var keyPath = Path.Combine(config.DataDirectory, "agent-link.key");
        if (!File.Exists(certPath) || !File.Exists(keyPath))
        {
            using var ecdsa = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            var request = new CertificateRequest("CN=warren-edge", ecdsa, HashAlgorithmName.SHA256);
            var san = new SubjectAlternativeNameBuilder();
            san.AddDnsName("localhost");
            san.AddDnsName(Environment.MachineName.ToLowerInvariant());
            san.AddIpAddress(IPAddress.Loopback);
            san.AddIpAddress(IPAddress.IPv6Loopback);
            request.CertificateExtensions.Add(san.Build());
            request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, critical: true));
            using var created = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddYears(10));
            // The key is 0600 from its first byte (it was written 0644 and chmod-ed after).
            PrivateFiles.WriteAtomically(keyPath, ecdsa.ExportPkcs8PrivateKeyPem());
            PrivateFiles.WriteAtomically(certPath, created.ExportCertificatePem(), PrivateFiles.WorldReadable);
        }
        return LoadPem(certPath, keyPath);
    }

    public static string Fingerprint(X509Certificate2 certificate) => Convert.ToHexStringLower(SHA256.HashData(certificate.RawData));
}
