using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Warren.Configuration;

namespace Warren.Edge.Tls;

/// <summary>Certificates for the edge: the public ones chosen by SNI, and the agent link's (configured or self-signed).</summary>
internal static class EdgeCertificates
{
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
        Directory.CreateDirectory(config.DataDirectory);
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
            File.WriteAllText(keyPath, ecdsa.ExportPkcs8PrivateKeyPem());
            if (!OperatingSystem.IsWindows())
            {
                File.SetUnixFileMode(keyPath, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            }
            File.WriteAllText(certPath, created.ExportCertificatePem());
        }
        return LoadPem(certPath, keyPath);
    }

    public static string Fingerprint(X509Certificate2 certificate) => Convert.ToHexStringLower(SHA256.HashData(certificate.RawData));
}

/// <summary>Picks the public certificate by SNI: exact name first, then a one-label wildcard. No match → the handshake fails.</summary>
internal sealed class SniCertificateSelector
{
    private readonly Dictionary<string, X509Certificate2> _byName = new(StringComparer.OrdinalIgnoreCase);

    public SniCertificateSelector(IEnumerable<CertificateConfig> certificates)
    {
        foreach (var entry in certificates)
        {
            var certificate = EdgeCertificates.LoadPem(entry.Cert, entry.Key);
            foreach (var host in entry.Hosts)
            {
                _byName[host] = certificate;
            }
        }
    }

    public long Rejected => Interlocked.Read(ref _rejected);

    private long _rejected;

    public X509Certificate2? Select(string? serverName)
    {
        if (!string.IsNullOrEmpty(serverName))
        {
            if (_byName.TryGetValue(serverName, out var exact))
            {
                return exact;
            }
            var dot = serverName.IndexOf('.', StringComparison.Ordinal);
            if (dot > 0 && _byName.TryGetValue("*" + serverName[dot..], out var wildcard))
            {
                return wildcard;
            }
        }
        // No SNI or an unknown name: counted, and Kestrel fails the handshake (logged at debug, not error).
        Interlocked.Increment(ref _rejected);
        return null;
    }
}
