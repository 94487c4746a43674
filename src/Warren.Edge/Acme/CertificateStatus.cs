namespace Warren.Edge.Acme;

/// <summary>One certificate's state as /api/status and `warren status` show it.</summary>
internal sealed record CertificateStatus(
    string Name, string Source, string State, DateTimeOffset? NotAfter, DateTimeOffset? RenewAt, DateTimeOffset? NextAttempt,
    int Failures, string? LastError, DateTimeOffset? LastErrorAt, DateTimeOffset? IssuedAt);
