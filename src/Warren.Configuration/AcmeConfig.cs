namespace Warren.Configuration;

/// <summary>
/// YAML key <c>acme</c>: certificates from an ACME (RFC 8555) CA, issued and renewed by the edge (docs/https.md).
/// Absent: the edge serves only the <c>certificates</c> the operator gives it.
/// </summary>
public sealed record AcmeConfig
{
    /// <summary>The challenge types the edge answers (RFC 8555 §8.3, §8.4; RFC 8737), in its default order of preference.</summary>
    public static IReadOnlyList<string> ChallengeTypes { get; } = ["http-01", "tls-alpn-01", "dns-01"];

    /// <summary>The CA's directory URL, e.g. Let's Encrypt's https://acme-v02.api.letsencrypt.org/directory.</summary>
    public string Directory { get; init; } = "";

    /// <summary>YAML key <c>email</c>: the account's contact, where the CA writes about expiry and incidents. Optional.</summary>
    public string? Email { get; init; }

    /// <summary>YAML key <c>agree_to_terms</c>: must be true; the CA's terms of service are accepted on the account's creation.</summary>
    public bool AgreeToTerms { get; init; }

    /// <summary>YAML key <c>hosts</c>: names that get a certificate whatever agents register; "*.example.com" needs dns-01.</summary>
    public IReadOnlyList<string> Hosts { get; init; } = [];

    /// <summary>
    /// YAML key <c>on_demand</c>: exact hostnames that an agent registers (so within its token's grant) get a
    /// certificate too. Default true.
    /// </summary>
    public bool OnDemand { get; init; } = true;

    /// <summary>
    /// YAML key <c>challenges</c>: the types the edge may answer: http-01, tls-alpn-01, dns-01. Empty: every type its
    /// listeners and hook allow (http-01 with listen.http, tls-alpn-01 with listen.https, dns-01 with dns_hook).
    /// </summary>
    public IReadOnlyList<string> Challenges { get; init; } = [];

    /// <summary>
    /// YAML key <c>dns_hook</c>: an executable run as <c>HOOK set|clear FQDN VALUE</c> to publish and remove the
    /// _acme-challenge TXT record (dns-01, needed for wildcard names).
    /// </summary>
    public string? DnsHook { get; init; }

    /// <summary>YAML key <c>dns_hook_timeout</c>: the hook is killed and the order fails past this. Default 2m.</summary>
    public TimeSpan DnsHookTimeout { get; init; } = TimeSpan.FromMinutes(2);

    /// <summary>YAML key <c>dns_delay</c>: waited after the hook set the record, before the CA is asked to look. Default 0.</summary>
    public TimeSpan DnsDelay { get; init; } = TimeSpan.Zero;

    /// <summary>YAML key <c>eab_kid</c>: external account binding key id, for CAs that require one (ZeroSSL, Google, private CAs).</summary>
    public string? EabKid { get; init; }

    /// <summary>YAML key <c>eab_hmac_key</c>: its MAC key, base64url as the CA gives it. Never shown in errors.</summary>
    public string? EabHmacKey { get; init; }

    /// <summary>YAML key <c>ca_bundle</c>: PEM roots trusted for the directory's HTTPS (a private CA); default: the system's.</summary>
    public string? CaBundle { get; init; }

    /// <summary>YAML key <c>fallback_cert</c>: served for a name whose certificate is not issued yet. Default: the handshake is refused.</summary>
    public string? FallbackCert { get; init; }

    /// <summary>YAML key <c>fallback_key</c>: the fallback certificate's private key.</summary>
    public string? FallbackKey { get; init; }

    /// <summary>
    /// YAML key <c>max_certificates</c>: most certificates the edge keeps (hosts and on-demand together), so tokens with
    /// wide grants cannot run the CA's rate limits or the disk out. Default 100.
    /// </summary>
    public int MaxCertificates { get; init; } = 100;
}
