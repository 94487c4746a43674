using Warren.Protocol.Session;

namespace Warren.Agent;

/// <summary>Knobs for hosting the agent that are not part of agent.yaml (tests and the demo set them).</summary>
public sealed class WarrenAgentOptions
{
    /// <summary>Session tunables; the keepalive interval and timeout are taken from <see cref="Configuration.AgentConfig.Session"/>.</summary>
    public SessionOptions Session { get; init; } = new();

    /// <summary>
    /// TCP connect and TLS handshake to the edge together. Without a limit an edge (or a path) that accepted the
    /// connection and then said nothing held the agent in its dial forever, never reconnecting (found by the fault
    /// suite). Default 10 s; must be positive.
    /// </summary>
    public TimeSpan DialTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Loads and validates agent.yaml again for a hot reload (SIGHUP, <c>warren reload</c>, POST /api/reload on the
    /// agent's admin listener); throws <see cref="Configuration.ConfigException"/> when it is invalid. Null: nothing to reload.
    /// </summary>
    public Func<Configuration.AgentConfig>? ReloadSource { get; init; }
}
