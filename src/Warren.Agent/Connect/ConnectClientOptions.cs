using Warren.Protocol.Session;

namespace Warren.Agent.Connect;

/// <summary>Knobs of <see cref="ConnectClient"/> outside its command line (docs/operations.md, "Private services").</summary>
public sealed class ConnectClientOptions
{
    /// <summary>Local connections carried at once; further ones are reset at accept. Default 256 (the edge's default <c>limits.max_connect_streams_per_session</c>); 1..100,000.</summary>
    public int MaxConnections { get; init; } = 256;

    /// <summary>How long a local connection waits for a session to the edge (while it reconnects) before it is reset. Default 10 s.</summary>
    public TimeSpan SessionWait { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>TCP connect and TLS handshake to the edge together. Default 10 s.</summary>
    public TimeSpan DialTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// A safety net for connections nobody closes: the edge enforces <c>limits.idle_timeout</c> (default 100 s) on
    /// each stream; this only frees the client's side should the edge never do so. Default 24 h.
    /// </summary>
    public TimeSpan IdleTimeout { get; init; } = TimeSpan.FromHours(24);

    /// <summary>Session tunables; the keepalive is taken from the configuration's <c>session</c>.</summary>
    public SessionOptions Session { get; init; } = new();

    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> for a value outside its range.</summary>
    public void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxConnections, 1, nameof(MaxConnections));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(MaxConnections, 100_000, nameof(MaxConnections));
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(SessionWait, TimeSpan.Zero, nameof(SessionWait));
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(DialTimeout, TimeSpan.Zero, nameof(DialTimeout));
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(IdleTimeout, TimeSpan.Zero, nameof(IdleTimeout));
    }
}
