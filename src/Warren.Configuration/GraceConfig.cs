namespace Warren.Configuration;

/// <summary>
/// YAML key <c>grace</c> (edge.yaml): the grace queue (docs/operations.md). When no session serves a known service
/// (its agent restarts, its link blips), new requests and TCP connections wait up to <see cref="Timeout"/> for a
/// session instead of being answered 503 at once.
/// </summary>
public sealed record GraceConfig
{
    /// <summary>YAML key <c>grace.timeout</c>: how long a request waits for a session. Default 5 s; 0 turns the queue off; at most 5 min.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// YAML key <c>grace.max_waiting</c>: requests and connections that may wait at once per service; past it they get
    /// 503 at once. Each waiter holds only its client connection (no body is read while waiting), so this bounds
    /// memory too. Default 1,000; 1..100,000.
    /// </summary>
    public int MaxWaiting { get; init; } = 1000;

    /// <summary>
    /// YAML key <c>grace.remember</c>: how long after an edge (re)start the services it knew before (kept in warren.db)
    /// stay routed, offline, waiting for their agents to register them again: their hostnames answer 503 (after the
    /// grace queue) and their TCP ports listen through the grace, never 404 or refused as if gone. A service not
    /// registered again by then is forgotten. Default 1 h; 0 forgets them at every start; at most 7 days.
    /// </summary>
    public TimeSpan Remember { get; init; } = TimeSpan.FromHours(1);
}
