using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Warren.Testing.Clients;

/// <summary>Server certificates for the edge's HTTPS listener in tests: self-signed P-256, written as PEM files.</summary>
internal static class SelfSignedCertificates
{
    /// <summary>Writes <c>{fileName}.crt</c> and <c>{fileName}.key</c> for <paramref name="dnsName"/> into <paramref name="folder"/>.</summary>
    public static (string CertPath, string KeyPath, byte[] RawData) Write(string folder, string fileName, string dnsName)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={dnsName}", key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName(dnsName);
        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, critical: true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], critical: false));
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
        var certPath = Path.Combine(folder, fileName + ".crt");
        var keyPath = Path.Combine(folder, fileName + ".key");
        File.WriteAllText(certPath, certificate.ExportCertificatePem());
        File.WriteAllText(keyPath, key.ExportPkcs8PrivateKeyPem());
        return (certPath, keyPath, certificate.RawData);
    }
}
