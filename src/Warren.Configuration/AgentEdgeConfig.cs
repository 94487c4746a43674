namespace Warren.Configuration;

/// <summary>
/// One item of agent.yaml's <c>edges</c> (docs/cluster.md, "Agents"): an edge of a cluster the agent keeps a session
/// to, and registers its services on.
/// </summary>
public sealed record AgentEdgeConfig
{
    /// <summary>YAML key <c>edge</c>: "host:port" of the edge's agent listener (required).</summary>
    public string Edge { get; init; } = "";

    /// <summary>YAML key <c>edge_fingerprint</c>: SHA-256 of this edge's certificate; default the top-level <c>edge_fingerprint</c>.</summary>
    public string? EdgeFingerprint { get; init; }
}
