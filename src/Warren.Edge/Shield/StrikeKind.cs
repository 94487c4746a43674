namespace Warren.Edge.Shield;

/// <summary>What a policy refusal counts as toward a ban (edge.yaml shield.auth_failures, shield.limit_hits).</summary>
internal enum StrikeKind
{
    /// <summary>An authenticating layer answered 401 or 403.</summary>
    AuthFailure,

    /// <summary>A rate limit answered 429, or a TCP connection was refused by connection_rate or max_connections_per_ip.</summary>
    LimitHit,
}
