namespace Warren.Configuration;

/// <summary>agent.yaml: which edge to dial and which private services to publish through it.</summary>
public sealed record AgentConfig
{
    /// <summary>"host:port" of the edge's agent listener (required unless <see cref="Edges"/> is given; then its first edge).</summary>
    public string Edge { get; init; } = "";

    /// <summary>
    /// YAML key <c>edges</c>: the edges of a cluster (docs/cluster.md, "Agents"); the agent keeps
    /// <see cref="Connections"/> sessions to each and registers its services on each. Empty: <see cref="Edge"/> alone.
    /// </summary>
    public IReadOnlyList<AgentEdgeConfig> Edges { get; init; } = [];

    /// <summary>The edges to dial: <see cref="Edges"/>, or <see cref="Edge"/> with <see cref="EdgeFingerprint"/>.</summary>
    public IReadOnlyList<AgentEdgeConfig> Targets => Edges.Count > 0 ? Edges : [new AgentEdgeConfig { Edge = Edge, EdgeFingerprint = EdgeFingerprint }];

    /// <summary>Required, non-empty.</summary>
    public string Token { get; init; } = "";

    /// <summary>YAML key <c>edge_fingerprint</c>: SHA-256 of the edge certificate, normalised to 64 lowercase hex digits.</summary>
    public string? EdgeFingerprint { get; init; }

    /// <summary>Plain TCP to the edge (tests only).</summary>
    public bool Insecure { get; init; }

    /// <summary>
    /// YAML key <c>sealed_records</c>: offer the edge sealed records after the TLS handshake (docs/protocol.md §1.1).
    /// Off: the link stays on TLS for its whole life, whatever the edge supports.
    /// </summary>
    public bool SealedRecords { get; init; } = true;

    public string Name { get; init; } = Environment.MachineName;

    /// <summary>Sessions to open to the edge, 1..16.</summary>
    public int Connections { get; init; } = 1;

    /// <summary>Local admin/metrics listener, e.g. 127.0.0.1:9091; null for off.</summary>
    public string? Admin { get; init; }

    /// <summary>YAML key <c>admin_token</c>: as the edge's; required when <see cref="Admin"/> is not a loopback address.</summary>
    public string? AdminToken { get; init; }

    public IReadOnlyList<ServiceConfig> Services { get; init; } = [];

    /// <summary>
    /// YAML key <c>drain_timeout</c>: on SIGTERM, how long in-flight streams may take to finish before they are
    /// closed. Default 30 s; 0..1 h.
    /// </summary>
    public TimeSpan DrainTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>YAML key <c>session</c>: keepalive of the link to the edge.</summary>
    public SessionConfig Session { get; init; } = new();

    /// <summary>The file it came from, for messages; null when built in code or without a file.</summary>
    public string? SourcePath { get; init; }
}

public sealed record ServiceConfig
{
    /// <summary>[a-z0-9][a-z0-9-_.]{0,62}, unique within the agent.</summary>
    public string Name { get; init; } = "";

    /// <summary>HTTP services: exact "a.example.com" or wildcard "*.example.com", lowercase.</summary>
    public IReadOnlyList<string> Hostnames { get; init; } = [];

    /// <summary>YAML key <c>path_prefix</c>; starts with "/".</summary>
    public string? PathPrefix { get; init; }

    /// <summary>TCP services: the edge port, 1..65535.</summary>
    public int? Port { get; init; }

    /// <summary>http://, https:// or tcp:// with host and port (required).</summary>
    public Uri Target { get; init; } = null!;

    /// <summary>YAML key <c>max_concurrency</c>, 1..100000.</summary>
    public int MaxConcurrency { get; init; } = 256;

    public TimeSpan QueueTimeout { get; init; } = TimeSpan.FromSeconds(10);

    public TimeSpan DialTimeout { get; init; } = TimeSpan.FromSeconds(10);

    public TimeSpan ResponseTimeout { get; init; } = TimeSpan.FromSeconds(100);

    public long? MaxRequestBodySize { get; init; }

    /// <summary>For https:// targets.</summary>
    public bool InsecureSkipVerify { get; init; }

    /// <summary>YAML key <c>policy</c>: what the edge enforces for this service, sent with the registration (docs/policy.md).</summary>
    public PolicyConfig? Policy { get; init; }

    /// <summary>
    /// YAML key <c>proxy_protocol</c>: <c>v1</c> or <c>v2</c> to start every backend connection of a TCP service with
    /// a PROXY protocol header naming the real client (docs/policy.md, "PROXY protocol"); null (default): none.
    /// </summary>
    public string? ProxyProtocol { get; init; }

    /// <summary>
    /// YAML key <c>private</c>: published on no public hostname or port; reachable only with <c>warren connect</c> by
    /// tokens granted it (docs/operations.md, "Private services"). Needs a tcp:// target, and no port or hostnames.
    /// </summary>
    public bool Private { get; init; }

    public bool IsTcp => Target.Scheme == "tcp";
}
