namespace Warren.Edge.Policy;

/// <summary>Why a policy refused a request or connection: a fixed set, safe as a metric label.</summary>
internal enum PolicyDenial
{
    IpDenied,
    Unauthenticated,
    RateLimited,
    Maintenance,
    TooManyConnections,
}
