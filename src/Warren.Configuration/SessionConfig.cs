namespace Warren.Configuration;

/// <summary>
/// YAML key <c>session</c> (edge.yaml and agent.yaml): keepalive of the agent link. Each side pings after
/// <see cref="KeepaliveInterval"/> and declares the other dead after <see cref="KeepaliveTimeout"/> of silence,
/// which is how a partition that never delivers a reset (a dead NAT entry, a pulled cable) is noticed.
/// </summary>
public sealed record SessionConfig
{
    /// <summary>YAML key <c>keepalive_interval</c>: a PING goes out this often. Default 10 s.</summary>
    public TimeSpan KeepaliveInterval { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>YAML key <c>keepalive_timeout</c>: nothing received for this long ends the session. Default 30 s; must exceed the interval.</summary>
    public TimeSpan KeepaliveTimeout { get; init; } = TimeSpan.FromSeconds(30);
}
