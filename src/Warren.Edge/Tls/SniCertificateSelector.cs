using System.Collections.Frozen;
using System.Net.Security;
using Warren.Configuration;

namespace Warren.Edge.Tls;

/// <summary>
/// Picks the public certificate by SNI (docs/https.md "Which certificate a handshake gets"): an exact name first,
/// then a one-label wildcard; the operator's certificates before ACME ones. A name that waits for its ACME
/// certificate gets the operator's fallback certificate when there is one. Anything else (no SNI, an unknown name,
/// a waiting name without a fallback) gets nothing, and the handshake is refused: never another name's certificate.
/// ACME certificates are swapped in as one immutable snapshot, so new handshakes use a new certificate at once and
/// established connections keep theirs.
/// </summary>
internal sealed class SniCertificateSelector
{
    private readonly FrozenDictionary<string, SslStreamCertificateContext> _configured;
    private readonly SslStreamCertificateContext? _fallback;
    private Snapshot _issued = new(FrozenDictionary<string, SslStreamCertificateContext>.Empty, FrozenSet<string>.Empty);
    private long _rejected;

    private sealed record Snapshot(FrozenDictionary<string, SslStreamCertificateContext> ByName, FrozenSet<string> Waiting);

    public SniCertificateSelector(IEnumerable<CertificateConfig> certificates, SslStreamCertificateContext? fallback = null)
    {
        var byName = new Dictionary<string, SslStreamCertificateContext>(StringComparer.OrdinalIgnoreCase);
        foreach (var entry in certificates)
        {
            var context = EdgeCertificates.LoadContext(entry.Cert, entry.Key);
            foreach (var host in entry.Hosts)
            {
                byName[host] = context;
            }
        }
        _configured = byName.ToFrozenDictionary(StringComparer.OrdinalIgnoreCase);
        _fallback = fallback;
    }

    public long Rejected => Interlocked.Read(ref _rejected);

    /// <summary>Replaces the ACME certificates (by name, "*.x" for wildcards) and the names still waiting for one.</summary>
    public void SetIssued(IReadOnlyDictionary<string, SslStreamCertificateContext> byName, IEnumerable<string> waiting) =>
        Volatile.Write(ref _issued, new Snapshot(byName.ToFrozenDictionary(StringComparer.OrdinalIgnoreCase), waiting.ToFrozenSet(StringComparer.OrdinalIgnoreCase)));

    public SslStreamCertificateContext? Select(string? serverName)
    {
        if (!string.IsNullOrEmpty(serverName))
        {
            var issued = Volatile.Read(ref _issued);
            if (_configured.TryGetValue(serverName, out var exact) || issued.ByName.TryGetValue(serverName, out exact))
            {
                return exact;
            }
            var dot = serverName.IndexOf('.', StringComparison.Ordinal);
            var wildcard = dot > 0 ? string.Concat("*", serverName.AsSpan(dot)) : null;
            if (wildcard is not null && (_configured.TryGetValue(wildcard, out var match) || issued.ByName.TryGetValue(wildcard, out match)))
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
}
