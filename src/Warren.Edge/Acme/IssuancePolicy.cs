using Warren.Configuration;
using Warren.Edge.Tokens;

namespace Warren.Edge.Acme;

/// <summary>
/// Which names may get a certificate, and which certificate serves a name (docs/security.md "Automatic
/// certificates"). Only two sources exist: <c>acme.hosts</c> in edge.yaml, and, with <c>on_demand</c>, hostnames an
/// authenticated agent registered, which the route table accepted only inside the token's grant. A TLS handshake
/// never makes the edge ask for a certificate, so no client can choose a name. A name an operator certificate
/// already covers gets none. A one-label name under a wildcard grant ("*.example.com") is served by one wildcard
/// certificate for the grant when dns-01 is available, instead of one certificate per name.
/// </summary>
internal sealed class IssuancePolicy
{
    private readonly HashSet<string> _operatorExact = new(StringComparer.OrdinalIgnoreCase);
    private readonly HashSet<string> _operatorWildcards = new(StringComparer.OrdinalIgnoreCase);

    public IssuancePolicy(AcmeConfig acme, IEnumerable<CertificateConfig> operatorCertificates, bool dnsAvailable)
    {
        OnDemand = acme.OnDemand;
        DnsAvailable = dnsAvailable;
        Hosts = acme.Hosts;
        foreach (var host in operatorCertificates.SelectMany(c => c.Hosts))
        {
            (host.StartsWith("*.", StringComparison.Ordinal) ? _operatorWildcards : _operatorExact).Add(host);
        }
    }

    public bool OnDemand { get; }

    public bool DnsAvailable { get; }

    /// <summary>The names in edge.yaml, each its own certificate.</summary>
    public IReadOnlyList<string> Hosts { get; }

    /// <summary>
    /// The certificate name (one identifier, possibly "*.suffix") that should serve <paramref name="host"/>, registered
    /// under <paramref name="grant"/>; null with <paramref name="reason"/> when none may or need be requested.
    /// </summary>
    public string? CertificateFor(string host, TokenGrant grant, out string? reason)
    {
        reason = null;
        host = host.ToLowerInvariant();
        if (!OnDemand)
        {
            reason = "acme.on_demand is off";
            return null;
        }
        if (!ConfigFormats.IsHostPattern(host) || !host.Contains('.', StringComparison.Ordinal))
        {
            reason = $"'{host}' is not a DNS name in a domain";
            return null;
        }
        // The route table already refused names outside the grant; checked again here so that this class alone
        // guarantees that no name outside every grant reaches the CA.
        if (!grant.AllowHosts.Any(pattern => TokenGrant.HostMatches(pattern, host)))
        {
            reason = $"'{host}' is not granted to token '{grant.Name}'";
            return null;
        }
        if (CoveredByOperator(host))
        {
            reason = $"'{host}' is served by a certificate in certificates";
            return null;
        }
        var wildcard = host.StartsWith("*.", StringComparison.Ordinal);
        if (wildcard && !DnsAvailable)
        {
            reason = $"'{host}' is a wildcard, which needs dns-01 (acme.dns_hook)";
            return null;
        }
        if (!wildcard && DnsAvailable && WildcardGrantFor(host, grant) is { } pattern)
        {
            return pattern;
        }
        return host;
    }

    /// <summary>Whether an operator certificate (exact or one-label wildcard) serves <paramref name="host"/>.</summary>
    public bool CoveredByOperator(string host)
    {
        if (_operatorExact.Contains(host))
        {
            return true;
        }
        var dot = host.IndexOf('.', StringComparison.Ordinal);
        return dot > 0 && _operatorWildcards.Contains("*" + host[dot..]);
    }

    /// <summary>The grant's "*.suffix" of which <paramref name="host"/> is exactly one label below, if any.</summary>
    private static string? WildcardGrantFor(string host, TokenGrant grant)
    {
        var dot = host.IndexOf('.', StringComparison.Ordinal);
        if (dot <= 0)
        {
            return null;
        }
        var candidate = "*" + host[dot..];
        return grant.AllowHosts.FirstOrDefault(p => string.Equals(p, candidate, StringComparison.OrdinalIgnoreCase))?.ToLowerInvariant();
    }
}
