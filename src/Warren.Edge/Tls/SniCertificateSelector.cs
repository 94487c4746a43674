using System.Collections.Frozen;
using System.Globalization;
using System.Net.Security;
using Warren.Configuration;

namespace Warren.Edge.Tls;

/// <summary>
/// Picks the public certificate by SNI (docs/https.md "Which certificate a handshake gets"): an exact name first,
/// then a one-label wildcard; the operator's certificates before ACME ones. A name that waits for its ACME
/// certificate gets the operator's fallback certificate when there is one. Anything else (no SNI, an unknown name,
/// a waiting name without a fallback) gets nothing, and the handshake is refused: never another name's certificate.
/// ACME certificates are swapped in as one immutable snapshot, so new handshakes use a new certificate at once and
/// established connections keep theirs. Names are compared in their normal form (HostNames), the key routing and
/// ownership use.
/// </summary>
internal sealed class SniCertificateSelector
{
    private static readonly IdnMapping Idn = new();
    private FrozenDictionary<string, SslStreamCertificateContext> _configured;
    private readonly SslStreamCertificateContext? _fallback;
    private Snapshot _issued = new(FrozenDictionary<string, SslStreamCertificateContext>.Empty, FrozenSet<string>.Empty);
    private long _rejected;

    private sealed record Snapshot(FrozenDictionary<string, SslStreamCertificateContext> ByName, FrozenSet<string> Waiting);

    public SniCertificateSelector(IEnumerable<CertificateConfig> certificates, SslStreamCertificateContext? fallback = null)
    {
        _configured = Load(certificates);
        _fallback = fallback;
    }

    /// <summary>Reads the operator's certificate files; throws when one cannot be read (a reload then changes nothing).</summary>
    public static FrozenDictionary<string, SslStreamCertificateContext> Load(IEnumerable<CertificateConfig> certificates)
    {
        var byName = new Dictionary<string, SslStreamCertificateContext>(StringComparer.Ordinal);
        foreach (var entry in certificates)
        {
            var context = EdgeCertificates.LoadContext(entry.Cert, entry.Key);
            foreach (var host in entry.Hosts)
            {
                byName[HostNames.ToLowerAscii(host)] = context;
            }
        }
        return byName.ToFrozenDictionary(StringComparer.Ordinal);
    }

    /// <summary>
    /// Hot reload: the operator's certificates (read by <see cref="Load"/>) replace the old ones in one step; new
    /// handshakes get them, established connections keep theirs.
    /// </summary>
    public void ReplaceConfigured(FrozenDictionary<string, SslStreamCertificateContext> certificates) => Volatile.Write(ref _configured, certificates);

    public long Rejected => Interlocked.Read(ref _rejected);

    /// <summary>Replaces the ACME certificates (by name, "*.x" for wildcards) and the names still waiting for one.</summary>
    public void SetIssued(IReadOnlyDictionary<string, SslStreamCertificateContext> byName, IEnumerable<string> waiting) =>
        Volatile.Write(ref _issued, new Snapshot(
            byName.ToFrozenDictionary(p => HostNames.ToLowerAscii(p.Key), p => p.Value, StringComparer.Ordinal),
            waiting.Select(HostNames.ToLowerAscii).ToFrozenSet(StringComparer.Ordinal)));

    public SslStreamCertificateContext? Select(string? sniName)
    {
        if (Normalize(sniName) is { } serverName)
        {
            var issued = Volatile.Read(ref _issued);
            var configured = Volatile.Read(ref _configured);
            if (configured.TryGetValue(serverName, out var exact) || issued.ByName.TryGetValue(serverName, out exact))
            {
                return exact;
            }
            var dot = serverName.IndexOf('.', StringComparison.Ordinal);
            var wildcard = dot > 0 ? string.Concat("*", serverName.AsSpan(dot)) : null;
            if (wildcard is not null && (configured.TryGetValue(wildcard, out var match) || issued.ByName.TryGetValue(wildcard, out match)))
            {
                return match;
            }
            if (_fallback is not null && (issued.Waiting.Contains(serverName) || (wildcard is not null && issued.Waiting.Contains(wildcard))))
            {
                return _fallback;
            }
        }
        // No SNI, an unknown name, or a waiting name without a fallback: counted, and the handshake is refused.
        Interlocked.Increment(ref _rejected);
        return null;
    }

    /// <summary>
    /// The name the client sent. SslStream hands the server an SNI name decoded to Unicode ("xn--bcher-kva.example"
    /// arrives as "bücher.example"), so it is encoded back to the A-labels that were on the wire; a name that does not
    /// encode matches nothing.
    /// </summary>
    private static string? Normalize(string? serverName)
    {
        if (string.IsNullOrEmpty(serverName))
        {
            return null;
        }
        if (System.Text.Ascii.IsValid(serverName))
        {
            return HostNames.ToLowerAscii(serverName);
        }
        try
        {
            return HostNames.ToLowerAscii(Idn.GetAscii(serverName));
        }
        catch (ArgumentException)
        {
            return null;
        }
    }
}
