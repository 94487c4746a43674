namespace Warren.Edge.Routing;

/// <summary>
/// An operator's hold on a service (docs/operations.md, "Draining a service and maintenance"): set through the admin
/// API, kept on the service's entry (so through an agent's restart or reconnect, while the edge knows the service) and
/// read once per request by the forwarding middleware and the TCP host. Immutable: a change replaces it.
/// </summary>
internal sealed record ServiceControl(ServiceState State, DateTimeOffset Since, TimeSpan RetryAfter, string? Message)
{
    /// <summary>What clients are told to wait when the operator names no time: Retry-After of the 503 page.</summary>
    public static readonly TimeSpan DefaultRetryAfter = TimeSpan.FromMinutes(5);

    /// <summary>The longest Retry-After the API accepts (a day): a longer one is a mistake, not a maintenance window.</summary>
    public static readonly TimeSpan MaxRetryAfter = TimeSpan.FromDays(1);

    /// <summary>The longest operator message on the 503 page.</summary>
    public const int MaxMessageLength = 500;

    /// <summary>
    /// A drain's timeout: WebSockets and TCP connections still open this long after the drain began are closed
    /// (ServiceEntry.DrainExpired); the drain body's <c>drain_timeout</c>, else edge.yaml's <c>drain_timeout</c>.
    /// </summary>
    public TimeSpan CloseAfter { get; init; } = TimeSpan.MaxValue;

    /// <summary>The longest drain timeout the API accepts (a day, as Retry-After).</summary>
    public static readonly TimeSpan MaxCloseAfter = TimeSpan.FromDays(1);
}
