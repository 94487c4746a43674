using Warren.Configuration;
using Warren.Edge.Tokens;
using SessionOptions = Warren.Protocol.Session.SessionOptions;

namespace Warren.Testing.Hosting;

/// <summary>What a test wants from its tunnel; the defaults publish the sample backend as <see cref="WarrenHarness.AppHost"/>.</summary>
internal sealed record HarnessOptions
{
    /// <summary>The agent's services; null publishes the sample HTTP backend as app.test.</summary>
    public Func<WarrenHarness, IReadOnlyList<ServiceConfig>>? Services { get; init; }

    /// <summary>The name of the agent's token in edge.yaml (it owns what the agent registers).</summary>
    public string TokenName { get; init; } = "tests";

    /// <summary>What the agent's token may publish.</summary>
    public IReadOnlyList<string> AllowHosts { get; init; } = ["*.test"];

    /// <summary>TCP ports the agent's token may publish (reserve them with <see cref="PortReservation"/>).</summary>
    public IReadOnlyList<int> AllowPorts { get; init; } = [];

    /// <summary>More tokens in edge.yaml besides the agent's.</summary>
    public IReadOnlyList<EdgeTokenConfig> ExtraTokens { get; init; } = [];

    /// <summary>Runs against the edge's token store before the edge starts (warren token create does the same).</summary>
    public Action<TokenStore>? Store { get; init; }

    /// <summary>False: the test starts an agent itself (another configuration, or a separate process).</summary>
    public bool StartAgent { get; init; } = true;

    /// <summary>The in-process agent's name (what the edge's status and metrics call it).</summary>
    public string AgentName { get; init; } = "test-agent";

    /// <summary>The edge's agent listener port; 0 lets the OS choose (a restarted edge reuses the port it was given).</summary>
    public int AgentsPort { get; init; }

    /// <summary>The edge's public HTTPS listener ("host:port", 0 lets the OS choose); null: no HTTPS listener.</summary>
    public string? HttpsListen { get; init; }

    /// <summary>The edge's session keepalive (edge.yaml <c>session</c>); the in-process agent takes the same.</summary>
    public SessionConfig Session { get; init; } = new();

    /// <summary>The edge's public certificates (PEM files that must exist), chosen by SNI on the HTTPS listener.</summary>
    public IReadOnlyList<CertificateConfig> Certificates { get; init; } = [];

    /// <summary>edge.yaml <c>limits</c>.</summary>
    public EdgeLimitsConfig Limits { get; init; } = new();

    /// <summary>The edge's agent-session tunables (<see cref="Warren.Edge.EdgeServerOptions.Session"/>: the handshake timeout); null: the edge's default.</summary>
    public SessionOptions? EdgeSession { get; init; }

    /// <summary>How long the edge waits for an agent to authenticate (<see cref="Warren.Edge.EdgeServerOptions.AuthTimeout"/>); null: the edge's default.</summary>
    public TimeSpan? AuthTimeout { get; init; }

    /// <summary>The edge's clock for long schedules (<see cref="Warren.Edge.EdgeServerOptions.Time"/>: certificate renewal); null: the system's.</summary>
    public TimeProvider? Time { get; init; }

    /// <summary>Any other change to edge.yaml (admin_token, trusted_proxies, listen.admin), applied before validation.</summary>
    public Func<EdgeConfig, EdgeConfig>? ConfigureEdge { get; init; }

    /// <summary>Any other change to the in-process agent's configuration (admin listener, connections), applied before validation.</summary>
    public Func<AgentConfig, AgentConfig>? ConfigureAgent { get; init; }
}
