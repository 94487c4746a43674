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
}
