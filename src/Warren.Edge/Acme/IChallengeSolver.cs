namespace Warren.Edge.Acme;

/// <summary>
/// Publishes the proof for one challenge type (RFC 8555 §8) and removes it afterwards. The issuer picks a solver per
/// authorization; a solver never decides which names may be proven (IssuancePolicy does).
/// </summary>
internal interface IChallengeSolver
{
    /// <summary>The ACME challenge type: http-01, tls-alpn-01 or dns-01.</summary>
    string Type { get; }

    /// <summary>Whether this type can prove <paramref name="domain"/>; only dns-01 proves a wildcard (RFC 8555 §7.1.3).</summary>
    bool CanSolve(string domain, bool wildcard);

    /// <summary>Makes the proof visible to the CA; returns once it is.</summary>
    Task PresentAsync(string domain, string token, string keyAuthorization, CancellationToken cancellationToken);

    /// <summary>Removes the proof (always called, also after a failure).</summary>
    Task CleanupAsync(string domain, string token, string keyAuthorization, CancellationToken cancellationToken);
}
