using System.Formats.Asn1;
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Warren.Net.Collections;

namespace Warren.Edge.Acme;

/// <summary>
/// TLS-ALPN-01 (RFC 8737): while a challenge is pending, a handshake for DOMAIN that offers only the "acme-tls/1"
/// protocol gets a self-signed certificate for DOMAIN carrying the critical id-pe-acmeIdentifier extension with
/// SHA-256(key authorization). The HTTPS listener asks <see cref="Find"/> during the handshake (PublicTlsHandshake);
/// nothing else ever sees these certificates.
/// </summary>
internal sealed class TlsAlpn01Responder : IChallengeSolver
{
    /// <summary>RFC 8737 §6.2.</summary>
    public static readonly SslApplicationProtocol Protocol = new("acme-tls/1");

    /// <summary>id-pe-acmeIdentifier (RFC 8737 §6.1).</summary>
    public const string AcmeIdentifierOid = "1.3.6.1.5.5.7.1.31";

    // Asked in every TLS handshake on the HTTPS listener, and almost always empty.
    private readonly RarelyWrittenDictionary<string, SslStreamCertificateContext> _byDomain = new(StringComparer.OrdinalIgnoreCase);

    public string Type => "tls-alpn-01";

    /// <summary>True while some challenge is pending: only then is a ClientHello peeked for its ALPN list.</summary>
    public bool HasPending => !_byDomain.IsEmpty;

    public bool CanSolve(string domain, bool wildcard) => !wildcard;

    public SslStreamCertificateContext? Find(string? domain) => domain is not null && _byDomain.TryGetValue(domain, out var context) ? context : null;

    public Task PresentAsync(string domain, string token, string keyAuthorization, CancellationToken cancellationToken)
    {
        _byDomain.Set(domain, SslStreamCertificateContext.Create(CreateCertificate(domain, keyAuthorization), additionalCertificates: null, offline: true));
        return Task.CompletedTask;
    }

    public Task CleanupAsync(string domain, string token, string keyAuthorization, CancellationToken cancellationToken)
    {
        _byDomain.Remove(domain);
        return Task.CompletedTask;
    }

    internal static X509Certificate2 CreateCertificate(string domain, string keyAuthorization)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=" + domain, key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName(domain);
        request.CertificateExtensions.Add(san.Build());
        // extnValue is the DER encoding of an OCTET STRING holding the 32-byte digest (RFC 8737 §3).
        var writer = new AsnWriter(AsnEncodingRules.DER);
        writer.WriteOctetString(SHA256.HashData(Encoding.ASCII.GetBytes(keyAuthorization)));
        request.CertificateExtensions.Add(new X509Extension(AcmeIdentifierOid, writer.Encode(), critical: true));
        var now = DateTimeOffset.UtcNow;
        using var created = request.CreateSelfSigned(now.AddDays(-1), now.AddDays(7));
        // Re-imported so the ephemeral key is usable by SslStream on every platform (as EdgeCertificates.LoadPem).
        return X509CertificateLoader.LoadPkcs12(created.Export(X509ContentType.Pkcs12), null);
    }
}
