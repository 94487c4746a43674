using System.Net.Security;
using System.Security.Cryptography.X509Certificates;

namespace Warren.Edge.Acme;

/// <summary>
/// One certificate the edge manages: its name (one identifier, "*.example.com" for a wildcard), where the demand
/// comes from, the certificate it serves now, and the schedule. Changed only by the manager's loop, under its lock.
/// </summary>
internal sealed class ManagedCertificate(string name)
{
    public string Name { get; } = name;

    /// <summary>"config" (acme.hosts), "on_demand" (registered by an agent) or "stored" (on disk, not asked for now).</summary>
    public string Source { get; set; } = "stored";

    /// <summary>Something asks for it now: it is issued and renewed. A stored certificate nobody asks for is served but not renewed.</summary>
    public bool Wanted { get; set; }

    public X509Certificate2? Leaf { get; set; }

    public SslStreamCertificateContext? Context { get; set; }

    public DateTimeOffset? RenewAt { get; set; }

    /// <summary>When the loop acts next: issue, renew, retry or ask for renewal information.</summary>
    public DateTimeOffset NextAttempt { get; set; } = DateTimeOffset.MinValue;

    public int Failures { get; set; }

    public string? LastError { get; set; }

    public DateTimeOffset? LastErrorAt { get; set; }

    public DateTimeOffset? IssuedAt { get; set; }

    /// <summary>valid, waiting (first issuance pending), failing (never issued, retrying), renewal_failing (old one still served), expired.</summary>
    public string State(DateTimeOffset now) => Leaf is null
        ? Failures > 0 ? "failing" : "waiting"
        : new DateTimeOffset(Leaf.NotAfter) <= now ? "expired"
        : Failures > 0 ? "renewal_failing" : "valid";
}
