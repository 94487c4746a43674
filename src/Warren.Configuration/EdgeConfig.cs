namespace Warren.Configuration;

/// <summary>edge.yaml: what the public edge listens on, which agents it accepts and its limits.</summary>
public sealed record EdgeConfig
{
    public ListenConfig Listen { get; init; } = new();

    public IReadOnlyList<CertificateConfig> Certificates { get; init; } = [];

    /// <summary>YAML key <c>data</c>: where the edge keeps generated certificates and state.</summary>
    public string DataDirectory { get; init; } = "./warren-data";

    /// <summary>YAML key <c>tokens</c>: the agents allowed to connect.</summary>
    public IReadOnlyList<EdgeTokenConfig> Tokens { get; init; } = [];

    /// <summary>YAML key <c>agent_tls</c>.</summary>
    public AgentLinkConfig AgentTls { get; init; } = new();

    /// <summary>YAML key <c>limits</c>.</summary>
    public EdgeLimitsConfig Limits { get; init; } = new();

    /// <summary>YAML key <c>session</c>: keepalive of the agent sessions.</summary>
    public SessionConfig Session { get; init; } = new();

    /// <summary>
    /// YAML key <c>drain_timeout</c>: on SIGTERM (or when a new edge takes over), how long in-flight requests and
    /// streams may take to finish before they are closed. Default 30 s; 0..1 h.
    /// </summary>
    public TimeSpan DrainTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>The longest <c>drain_timeout</c> either side accepts; the CLI lets a drain run this long after SIGTERM.</summary>
    public static readonly TimeSpan MaxDrainTimeout = TimeSpan.FromHours(1);

    /// <summary>YAML key <c>grace</c>: the grace queue for services whose session is away.</summary>
    public GraceConfig Grace { get; init; } = new();

    /// <summary>YAML key <c>acme</c>: automatic certificates (docs/https.md); null: off.</summary>
    public AcmeConfig? Acme { get; init; }

    /// <summary>
    /// YAML key <c>admin_token</c>: when set, /metrics and /api/status on the admin listener need
    /// <c>Authorization: Bearer</c> with it. Required when <c>listen.admin</c> is not a loopback address.
    /// </summary>
    public string? AdminToken { get; init; }

    /// <summary>
    /// YAML key <c>trusted_proxies</c>: IPs or CIDRs (10.0.0.0/8) whose X-Forwarded-For/-Proto/-Host the edge keeps and
    /// appends to; from every other peer they are replaced. Empty: nobody is trusted.
    /// </summary>
    public IReadOnlyList<string> TrustedProxies { get; init; } = [];

    /// <summary>YAML key <c>policies</c>: named policies the edge enforces by hostname or port (docs/policy.md).</summary>
    public IReadOnlyList<EdgePolicyConfig> Policies { get; init; } = [];

    /// <summary>YAML key <c>shield</c>: bans of abusive client addresses (docs/policy.md, "Abuse shield").</summary>
    public ShieldConfig Shield { get; init; } = new();

    /// <summary>YAML key <c>access_log</c>: where the access log goes (docs/observability.md, "Access log").</summary>
    public AccessLogConfig AccessLog { get; init; } = new();

    /// <summary>YAML key <c>request_log</c>: the persistent request log (docs/console.md).</summary>
    public RequestLogConfig RequestLog { get; init; } = new();

    /// <summary>YAML key <c>inspector</c>: the console's request inspector (docs/console.md).</summary>
    public InspectorConfig Inspector { get; init; } = new();

    /// <summary>YAML key <c>cluster</c>: one of several edges sharing state through Redis (docs/cluster.md); null: one edge alone.</summary>
    public ClusterConfig? Cluster { get; init; }

    /// <summary>The file it came from, for messages; null when built in code or without a file.</summary>
    public string? SourcePath { get; init; }
}

public sealed record ListenConfig
{
    /// <summary>"host:port", or null/"" for off.</summary>
    public string? Http { get; init; } = "0.0.0.0:80";

    /// <summary>"host:port", or null/"" for off.</summary>
    public string? Https { get; init; }

    public string Agents { get; init; } = "0.0.0.0:7443";

    public string Admin { get; init; } = "127.0.0.1:9090";

    /// <summary>
    /// YAML key <c>tcp_address</c>: the IP address TCP services' ports are bound on (each service's port comes from
    /// its registration). Default all interfaces, "0.0.0.0"; "::" for IPv6 and IPv4, or one interface's address.
    /// </summary>
    public string TcpAddress { get; init; } = "0.0.0.0";
}

public sealed record CertificateConfig
{
    public IReadOnlyList<string> Hosts { get; init; } = [];

    public string Cert { get; init; } = "";

    public string Key { get; init; } = "";
}

public sealed record EdgeTokenConfig
{
    public string Name { get; init; } = "";

    /// <summary>The plaintext token (typically from ${ENV}); exactly one of Token and TokenSha256 is set.</summary>
    public string? Token { get; init; }

    /// <summary>YAML key <c>token_sha256</c>: lowercase hex SHA-256 of the token.</summary>
    public string? TokenSha256 { get; init; }

    /// <summary>YAML key <c>allow_hosts</c>: exact hostnames or "*.example.com"; empty allows none (TokenGrant.Check).</summary>
    public IReadOnlyList<string> AllowHosts { get; init; } = [];

    /// <summary>YAML key <c>allow_ports</c>; empty allows none (TokenGrant.Check).</summary>
    public IReadOnlyList<int> AllowPorts { get; init; } = [];

    /// <summary>YAML key <c>allow_private</c>: names of private services the token may publish (docs/operations.md, "Private services").</summary>
    public IReadOnlyList<string> AllowPrivate { get; init; } = [];

    /// <summary>YAML key <c>allow_connect</c>: names of private services the token may reach with <c>warren connect</c>.</summary>
    public IReadOnlyList<string> AllowConnect { get; init; } = [];

    /// <summary>
    /// YAML key <c>require_policies</c>: edge policies every service of this token must name in its
    /// <c>policy.use</c>; a registration without them is refused with a message in the agent's log.
    /// </summary>
    public IReadOnlyList<string> RequirePolicies { get; init; } = [];

    /// <summary>YAML key <c>quota</c>: bytes per day or month the token's services may move; null: unlimited.</summary>
    public QuotaConfig? Quota { get; init; }
}

/// <summary>TLS for the agent listener. No cert: a self-signed one is generated in the data directory. Insecure: plain TCP (tests only).</summary>
public sealed record AgentLinkConfig
{
    public string? Cert { get; init; }

    public string? Key { get; init; }

    public bool Insecure { get; init; }

    /// <summary>
    /// YAML key <c>sealed_records</c>: whether agent and edge-to-edge links that agree it leave TLS for sealed records
    /// after the handshake (docs/protocol.md §1.1). Off: this edge neither selects nor offers them, and every link
    /// stays on TLS for its whole life, for operators whose rules ask for TLS on the wire.
    /// </summary>
    public bool SealedRecords { get; init; } = true;
}

public sealed record EdgeLimitsConfig
{
    /// <summary>YAML key <c>max_request_body_size</c>: accepts "30MB", "1GiB" or plain bytes.</summary>
    public long MaxRequestBodySize { get; init; } = 30_000_000;

    public int MaxConnections { get; init; } = 10_000;

    public TimeSpan RequestHeadersTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>For upgraded (WebSocket) and TCP streams: no byte either way for this long closes both sides.</summary>
    public TimeSpan IdleTimeout { get; init; } = TimeSpan.FromSeconds(100);

    /// <summary>
    /// YAML key <c>max_connections_per_ip</c>: concurrent connections one client IP may hold on the public HTTP(S)
    /// listeners. 2,048 is well above one browser or NAT'd office, well below the global cap, so one host cannot take
    /// every slot.
    /// </summary>
    public int MaxConnectionsPerIp { get; init; } = 2048;

    /// <summary>YAML key <c>max_auth_failures_per_ip</c>: failed agent logins from one IP within <see cref="AuthFailureWindow"/> before it is cut off.</summary>
    public int MaxAuthFailuresPerIp { get; init; } = 10;

    /// <summary>
    /// YAML key <c>max_services_per_session</c>: services one agent session may register (a registration replaces the
    /// session's earlier one, so this caps each registration too). Above it the registration is refused whole. 1,000
    /// is twice the 500 services Warren is measured with (docs/benchmarks.md).
    /// </summary>
    public int MaxServicesPerSession { get; init; } = 1000;

    /// <summary>YAML key <c>auth_failure_window</c>.</summary>
    public TimeSpan AuthFailureWindow { get; init; } = TimeSpan.FromMinutes(1);

    /// <summary>
    /// YAML key <c>max_agent_connections_per_ip</c>: concurrent connections one IP may hold on the agents listener
    /// (sessions and handshakes in progress). An agent holds 1 to 16 sessions (<c>connections</c>), so 64 fits a few
    /// dozen agents behind one NAT while a flood of silent connections from one address is closed at accept.
    /// </summary>
    public int MaxAgentConnectionsPerIp { get; init; } = 64;

    /// <summary>
    /// YAML key <c>max_requests_per_ip_per_service</c>: HTTP requests (WebSockets included, for their whole life) one
    /// client IP (behind a trusted proxy: the client it names) may have in flight to one service. Half an agent's
    /// default <c>max_concurrency</c> (256), so one address, however slow its requests, leaves at least half of a
    /// service's slots to everyone else. Requests over it wait their turn for up to <see cref="RequestQueueTimeout"/>,
    /// then get 429.
    /// </summary>
    public int MaxRequestsPerIpPerService { get; init; } = 128;

    /// <summary>
    /// YAML key <c>request_queue_timeout</c>: how long a request over <see cref="MaxRequestsPerIpPerService"/> waits for
    /// one of its address's slots before 429. As long as the edge waits for an agent to accept a stream (30 s), so a
    /// client with many fast requests in parallel (a load test: 1,000 at once) is slowed, not refused.
    /// </summary>
    public TimeSpan RequestQueueTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// YAML key <c>min_request_body_data_rate</c>, bytes per second (0: off): a request body arriving slower than this,
    /// averaged from the first read once <see cref="DataRateGracePeriod"/> has passed, gets 408 and the connection is
    /// closed. Four times Kestrel's 240 B/s and twice Apache's mod_reqtimeout (500 B/s); a phone on 2G uploads at
    /// 2 KB/s or more.
    /// </summary>
    public long MinRequestBodyDataRate { get; init; } = 1024;

    /// <summary>
    /// YAML key <c>min_response_data_rate</c>, bytes per second (0: off): a client that reads the response slower than
    /// this (timed only while the edge waits for it to take more) is cut off.
    /// </summary>
    public long MinResponseDataRate { get; init; } = 1024;

    /// <summary>YAML key <c>data_rate_grace_period</c>: how long a transfer may run below the minimum rates before they apply.</summary>
    public TimeSpan DataRateGracePeriod { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// YAML key <c>max_tcp_connections_per_ip</c>: connections one client IP may hold to one TCP service. Half an
    /// agent's default <c>max_concurrency</c>, enough for an application server's connection pool.
    /// </summary>
    public int MaxTcpConnectionsPerIp { get; init; } = 128;

    /// <summary>YAML key <c>max_tcp_connections_per_service</c>: connections all clients together may hold to one TCP service.</summary>
    public int MaxTcpConnectionsPerService { get; init; } = 1024;

    /// <summary>
    /// YAML key <c>max_connect_streams_per_session</c>: connections one <c>warren connect</c> session may carry at once
    /// to its private service (docs/operations.md, "Private services"); further ones are refused with RST REFUSED_STREAM.
    /// </summary>
    public int MaxConnectStreamsPerSession { get; init; } = 256;

    /// <summary>
    /// YAML key <c>ipv6_subnet_factor</c>: every per-IP limit also applies to each IPv6 /64, with this many times the
    /// per-address value. A host usually owns a whole /64 and can use any address in it.
    /// </summary>
    public int Ipv6SubnetFactor { get; init; } = 4;
}
