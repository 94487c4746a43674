using System.Collections;
using YamlDotNet.RepresentationModel;

namespace Warren.Configuration;

/// <summary>
/// Loads edge.yaml and agent.yaml. Precedence, highest first: <c>overrides</c> (CLI flags, dotted keys such as
/// "listen.http"), WARREN_* environment variables (WARREN_LISTEN__HTTP), the file, the defaults.
/// Every problem found is collected and thrown as one <see cref="ConfigException"/>.
/// </summary>
public static class ConfigLoader
{
    /// <summary>Where a flag override comes from, in messages.</summary>
    public const string CommandLineSource = "command line";

    /// <summary>The prefix of environment overrides; levels are separated by "__".</summary>
    public const string EnvironmentPrefix = "WARREN_";

    /// <summary>The dotted keys of edge.yaml that WARREN_* variables and flags can override.</summary>
    public static IReadOnlyList<string> EdgeOverridableKeys { get; } =
    [
        "listen.http", "listen.https", "listen.agents", "listen.admin", "listen.tcp_address", "data",
        "agent_tls.cert", "agent_tls.key", "agent_tls.insecure", "agent_tls.sealed_records",
        "limits.max_request_body_size", "limits.max_connections", "limits.request_headers_timeout", "limits.idle_timeout",
        "session.keepalive_interval", "session.keepalive_timeout",
        "limits.max_connections_per_ip", "limits.max_auth_failures_per_ip", "limits.auth_failure_window", "admin_token",
        "limits.max_agent_connections_per_ip", "limits.max_requests_per_ip_per_service", "limits.request_queue_timeout",
        "limits.min_request_body_data_rate", "limits.min_response_data_rate", "limits.data_rate_grace_period",
        "limits.max_tcp_connections_per_ip", "limits.max_tcp_connections_per_service", "limits.ipv6_subnet_factor",
        "acme.directory", "acme.email", "acme.eab_kid", "acme.eab_hmac_key",
        "drain_timeout", "grace.timeout", "grace.max_waiting", "grace.remember",
        "access_log.output", "access_log.path", "access_log.max_size", "access_log.max_files",
        "request_log.enabled", "request_log.retention", "request_log.max_size", "request_log.queue",
        "shield.enabled", "shield.auth_failures", "shield.limit_hits", "shield.window", "shield.ban_time", "shield.max_bans",
        "shield.ipv4_prefix", "shield.ipv6_prefix",
        "cluster.redis", "cluster.name", "cluster.secret", "cluster.listen", "cluster.advertise",
    ];

    /// <summary>The dotted keys of agent.yaml that WARREN_* variables and flags can override.</summary>
    public static IReadOnlyList<string> AgentOverridableKeys { get; } =
        ["edge", "token", "edge_fingerprint", "insecure", "sealed_records", "name", "connections", "admin", "admin_token", "session.keepalive_interval", "session.keepalive_timeout", "drain_timeout"];

    public static EdgeConfig LoadEdge(string? path, IReadOnlyDictionary<string, string?> environment, IReadOnlyDictionary<string, string>? overrides = null)
    {
        var (reader, root) = Open(path, environment, overrides, EdgeOverridableKeys);
        var config = ReadEdge(reader, root) with { SourcePath = path };
        return Validator.Edge(config, reader.Diagnostics).ThrowIfInvalid(reader.Diagnostics);
    }

    public static AgentConfig LoadAgent(string? path, IReadOnlyDictionary<string, string?> environment, IReadOnlyDictionary<string, string>? overrides = null)
    {
        var (reader, root) = Open(path, environment, overrides, AgentOverridableKeys);
        var config = ReadAgent(reader, root) with { SourcePath = path };
        return Validator.Agent(config, reader.Diagnostics).ThrowIfInvalid(reader.Diagnostics);
    }

    /// <summary>The same rules as <see cref="LoadEdge"/>, for configs built in code. Returns it with values normalised.</summary>
    public static EdgeConfig ValidateEdge(EdgeConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        var diagnostics = new Diagnostics(config.SourcePath);
        return Validator.Edge(config, diagnostics).ThrowIfInvalid(diagnostics);
    }

    /// <summary>The same rules as <see cref="LoadAgent"/>, for configs built in code. Returns it with values normalised.</summary>
    public static AgentConfig ValidateAgent(AgentConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        var diagnostics = new Diagnostics(config.SourcePath);
        return Validator.Agent(config, diagnostics).ThrowIfInvalid(diagnostics);
    }

    /// <summary>A snapshot of the process environment, for the <c>environment</c> argument.</summary>
    public static IReadOnlyDictionary<string, string?> ProcessEnvironment()
    {
        var result = new Dictionary<string, string?>(StringComparer.Ordinal);
        foreach (DictionaryEntry entry in Environment.GetEnvironmentVariables())
        {
            result[(string)entry.Key] = (string?)entry.Value;
        }

        return result;
    }

    private static T ThrowIfInvalid<T>(this T config, Diagnostics diagnostics)
    {
        diagnostics.ThrowIfAny();
        return config;
    }

    private static (YamlReader Reader, YamlMappingNode Root) Open(
        string? path,
        IReadOnlyDictionary<string, string?> environment,
        IReadOnlyDictionary<string, string>? overrides,
        IReadOnlyList<string> overridable)
    {
        ArgumentNullException.ThrowIfNull(environment);
        var reader = new YamlReader(new Diagnostics(path), environment);
        var root = reader.LoadRoot(path);
        if (root is null)
        {
            // The file could not be read or parsed: that error alone is the useful one.
            reader.Diagnostics.ThrowIfAny();
        }

        root ??= new YamlMappingNode();
        foreach (var (name, value) in environment.OrderBy(e => e.Key, StringComparer.Ordinal))
        {
            if (value is null || !name.StartsWith(EnvironmentPrefix, StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }

            // WARREN_* variables that are not settings of this file (the other role's, the CLI's own) are ignored.
            var key = name[EnvironmentPrefix.Length..].ToLowerInvariant().Replace("__", ".", StringComparison.Ordinal);
            if (overridable.Contains(key))
            {
                reader.Override(root, key, value, name);
            }
        }

        foreach (var (name, value) in overrides ?? new Dictionary<string, string>())
        {
            var key = name.TrimStart('-').ToLowerInvariant().Replace('-', '_');
            if (overridable.Contains(key))
            {
                reader.Override(root, key, value, CommandLineSource);
            }
            else
            {
                reader.Diagnostics.Fail(key, CommandLineSource, null, $"'{name}' cannot be overridden; these can: {string.Join(", ", overridable)}");
            }
        }

        return (reader, root);
    }

    private static EdgeConfig ReadEdge(YamlReader reader, YamlMappingNode root)
    {
        var defaults = new EdgeConfig();
        var file = reader.Map(root, "", "listen", "certificates", "data", "tokens", "agent_tls", "limits", "session", "admin_token", "trusted_proxies", "policies", "acme",
            "drain_timeout", "grace", "access_log", "request_log", "inspector", "shield", "cluster");

        var listen = file.Map("listen", "http", "https", "agents", "admin", "tcp_address");
        var limits = file.Map("limits", "max_request_body_size", "max_connections", "request_headers_timeout", "idle_timeout",
            "max_connections_per_ip", "max_auth_failures_per_ip", "auth_failure_window", "max_agent_connections_per_ip",
            "max_requests_per_ip_per_service", "request_queue_timeout", "min_request_body_data_rate", "min_response_data_rate",
            "data_rate_grace_period", "max_tcp_connections_per_ip", "max_tcp_connections_per_service", "ipv6_subnet_factor", "max_services_per_session",
            "max_connect_streams_per_session");
        var tls = file.Map("agent_tls", "cert", "key", "insecure", "sealed_records");
        var grace = file.Map("grace", "timeout", "max_waiting", "remember");
        var access = file.Map("access_log", "output", "path", "max_size", "max_files");
        return new EdgeConfig
        {
            Listen = new ListenConfig
            {
                Http = listen["http"] is null ? defaults.Listen.Http : listen.OptionalString("http", null),
                Https = listen.OptionalString("https", defaults.Listen.Https),
                Agents = listen.String("agents", defaults.Listen.Agents),
                Admin = listen.String("admin", defaults.Listen.Admin),
                TcpAddress = listen.String("tcp_address", defaults.Listen.TcpAddress),
            },
            Certificates = file.List(
                "certificates",
                c => new CertificateConfig
                {
                    Hosts = c.StringList("hosts"),
                    Cert = c.FilePath("cert", "") ?? "",
                    Key = c.FilePath("key", "") ?? "",
                },
                "hosts", "cert", "key"),
            DataDirectory = file.FilePath("data", defaults.DataDirectory) ?? "",
            Tokens = file.List(
                "tokens",
                t => new EdgeTokenConfig
                {
                    Name = t.String("name", ""),
                    Token = t.OptionalString("token", null),
                    TokenSha256 = t.OptionalString("token_sha256", null),
                    AllowHosts = t.StringList("allow_hosts"),
                    AllowPorts = t.IntList("allow_ports"),
                    AllowPrivate = t.StringList("allow_private"),
                    AllowConnect = t.StringList("allow_connect"),
                    RequirePolicies = t.StringList("require_policies"),
                    Quota = ReadQuota(t),
                },
                "name", "token", "token_sha256", "allow_hosts", "allow_ports", "allow_private", "allow_connect", "require_policies", "quota"),
            AgentTls = new AgentLinkConfig
            {
                Cert = tls.FilePath("cert", null),
                Key = tls.FilePath("key", null),
                Insecure = tls.Bool("insecure", false),
                SealedRecords = tls.Bool("sealed_records", true),
            },
            Limits = new EdgeLimitsConfig
            {
                MaxRequestBodySize = limits.Size("max_request_body_size", defaults.Limits.MaxRequestBodySize),
                MaxConnections = limits.Int("max_connections", defaults.Limits.MaxConnections),
                RequestHeadersTimeout = limits.Duration("request_headers_timeout", defaults.Limits.RequestHeadersTimeout),
                IdleTimeout = limits.Duration("idle_timeout", defaults.Limits.IdleTimeout),
                MaxConnectionsPerIp = limits.Int("max_connections_per_ip", defaults.Limits.MaxConnectionsPerIp),
                MaxAuthFailuresPerIp = limits.Int("max_auth_failures_per_ip", defaults.Limits.MaxAuthFailuresPerIp),
                AuthFailureWindow = limits.Duration("auth_failure_window", defaults.Limits.AuthFailureWindow),
                MaxServicesPerSession = limits.Int("max_services_per_session", defaults.Limits.MaxServicesPerSession),
                MaxAgentConnectionsPerIp = limits.Int("max_agent_connections_per_ip", defaults.Limits.MaxAgentConnectionsPerIp),
                MaxRequestsPerIpPerService = limits.Int("max_requests_per_ip_per_service", defaults.Limits.MaxRequestsPerIpPerService),
                RequestQueueTimeout = limits.Duration("request_queue_timeout", defaults.Limits.RequestQueueTimeout),
                MinRequestBodyDataRate = limits.Size("min_request_body_data_rate", defaults.Limits.MinRequestBodyDataRate),
                MinResponseDataRate = limits.Size("min_response_data_rate", defaults.Limits.MinResponseDataRate),
                DataRateGracePeriod = limits.Duration("data_rate_grace_period", defaults.Limits.DataRateGracePeriod),
                MaxTcpConnectionsPerIp = limits.Int("max_tcp_connections_per_ip", defaults.Limits.MaxTcpConnectionsPerIp),
                MaxTcpConnectionsPerService = limits.Int("max_tcp_connections_per_service", defaults.Limits.MaxTcpConnectionsPerService),
                Ipv6SubnetFactor = limits.Int("ipv6_subnet_factor", defaults.Limits.Ipv6SubnetFactor),
                MaxConnectStreamsPerSession = limits.Int("max_connect_streams_per_session", defaults.Limits.MaxConnectStreamsPerSession),
            },
            Session = ReadSession(file),
            AdminToken = file.OptionalString("admin_token", null),
            TrustedProxies = file.StringList("trusted_proxies"),
            Policies = file.List(
                "policies",
                p =>
                {
                    var match = p.Map("match", "hosts", "ports");
                    return new EdgePolicyConfig
                    {
                        Name = p.String("name", ""),
                        Hosts = match.StringList("hosts"),
                        Ports = match.IntList("ports"),
                        Policy = PolicyReader.Read(p) ?? new PolicyConfig(),
                    };
                },
                ["name", "match", .. PolicyReader.Keys]),
            Acme = ReadAcme(file),
            DrainTimeout = file.Duration("drain_timeout", defaults.DrainTimeout),
            Grace = new GraceConfig
            {
                Timeout = grace.Duration("timeout", defaults.Grace.Timeout),
                MaxWaiting = grace.Int("max_waiting", defaults.Grace.MaxWaiting),
                Remember = grace.Duration("remember", defaults.Grace.Remember),
            },
            AccessLog = new AccessLogConfig
            {
                Output = access.String("output", defaults.AccessLog.Output),
                Path = access.FilePath("path", defaults.AccessLog.Path),
                MaxSize = access.Size("max_size", defaults.AccessLog.MaxSize),
                MaxFiles = access.Int("max_files", defaults.AccessLog.MaxFiles),
            },
            RequestLog = ReadRequestLog(file),
            Inspector = ReadInspector(file),
            Shield = ReadShield(file),
            Cluster = ReadCluster(file),
        };
    }

    private static ClusterConfig? ReadCluster(Mapping file)
    {
        if (file["cluster"] is null)
        {
            return null;
        }

        var defaults = new ClusterConfig();
        var cluster = file.Map("cluster", "redis", "name", "secret", "secret_file", "listen", "advertise", "key_prefix", "lease", "sync_interval");
        return new ClusterConfig
        {
            Redis = cluster.String("redis", ""),
            Name = cluster.String("name", ""),
            // A secret file (a systemd credential, a mounted secret) holds the value and perhaps a final newline.
            Secret = cluster.OptionalString("secret", null) ?? cluster.FileText("secret_file")?.Trim() ?? "",
            Listen = cluster.String("listen", defaults.Listen),
            Advertise = cluster.OptionalString("advertise", null),
            KeyPrefix = cluster.String("key_prefix", defaults.KeyPrefix),
            Lease = cluster.Duration("lease", defaults.Lease),
            SyncInterval = cluster.Duration("sync_interval", defaults.SyncInterval),
        };
    }

    private static QuotaConfig? ReadQuota(Mapping token)
    {
        if (token["quota"] is null)
        {
            return null;
        }

        var quota = token.Map("quota", "daily", "monthly");
        return new QuotaConfig { Daily = quota.OptionalSize("daily"), Monthly = quota.OptionalSize("monthly") };
    }

    private static RequestLogConfig ReadRequestLog(Mapping file)
    {
        var defaults = new RequestLogConfig();
        var log = file.Map("request_log", "enabled", "retention", "max_size", "queue");
        return new RequestLogConfig
        {
            Enabled = log.Bool("enabled", defaults.Enabled),
            Retention = log.Duration("retention", defaults.Retention),
            MaxSize = log.Size("max_size", defaults.MaxSize),
            Queue = log.Int("queue", defaults.Queue),
        };
    }

    private static ShieldConfig ReadShield(Mapping file)
    {
        var defaults = new ShieldConfig();
        var shield = file.Map("shield", "enabled", "auth_failures", "limit_hits", "window", "ban_time", "max_bans", "exempt", "ipv4_prefix", "ipv6_prefix");
        return new ShieldConfig
        {
            Enabled = shield.Bool("enabled", defaults.Enabled),
            AuthFailures = shield.Int("auth_failures", defaults.AuthFailures),
            LimitHits = shield.Int("limit_hits", defaults.LimitHits),
            Window = shield.Duration("window", defaults.Window),
            BanTime = shield.Duration("ban_time", defaults.BanTime),
            MaxBans = shield.Int("max_bans", defaults.MaxBans),
            Exempt = shield.StringList("exempt"),
            Ipv4Prefix = shield.Int("ipv4_prefix", defaults.Ipv4Prefix),
            Ipv6Prefix = shield.Int("ipv6_prefix", defaults.Ipv6Prefix),
        };
    }

    private static InspectorConfig ReadInspector(Mapping file)
    {
        var defaults = new InspectorConfig();
        var inspector = file.Map("inspector", "services", "max_body", "max_requests", "show_headers");
        return new InspectorConfig
        {
            Services = inspector.StringList("services"),
            MaxBody = inspector.Size("max_body", defaults.MaxBody),
            MaxRequests = inspector.Int("max_requests", defaults.MaxRequests),
            ShowHeaders = inspector.StringList("show_headers"),
        };
    }

    private static AcmeConfig? ReadAcme(Mapping file)
    {
        if (file["acme"] is null)
        {
            return null;
        }

        var defaults = new AcmeConfig();
        var acme = file.Map("acme", "directory", "email", "agree_to_terms", "hosts", "on_demand", "challenges", "dns_hook",
            "dns_hook_timeout", "dns_delay", "eab_kid", "eab_hmac_key", "ca_bundle", "fallback_cert", "fallback_key", "max_certificates");
        return new AcmeConfig
        {
            Directory = acme.String("directory", ""),
            Email = acme.OptionalString("email", null),
            AgreeToTerms = acme.Bool("agree_to_terms", false),
            Hosts = acme.StringList("hosts"),
            OnDemand = acme.Bool("on_demand", defaults.OnDemand),
            Challenges = acme.StringList("challenges"),
            DnsHook = acme.FilePath("dns_hook", null),
            DnsHookTimeout = acme.Duration("dns_hook_timeout", defaults.DnsHookTimeout),
            DnsDelay = acme.Duration("dns_delay", defaults.DnsDelay),
            EabKid = acme.OptionalString("eab_kid", null),
            EabHmacKey = acme.OptionalString("eab_hmac_key", null),
            CaBundle = acme.FilePath("ca_bundle", null),
            FallbackCert = acme.FilePath("fallback_cert", null),
            FallbackKey = acme.FilePath("fallback_key", null),
            MaxCertificates = acme.Int("max_certificates", defaults.MaxCertificates),
        };
    }

    private static AgentConfig ReadAgent(YamlReader reader, YamlMappingNode root)
    {
        var defaults = new AgentConfig();
        var serviceDefaults = new ServiceConfig();
        var file = reader.Map(root, "", "edge", "edges", "token", "edge_fingerprint", "insecure", "sealed_records", "name", "connections", "admin", "admin_token", "services", "session", "drain_timeout");
        return new AgentConfig
        {
            Edge = file.String("edge", ""),
            Edges = file.List(
                "edges",
                e => new AgentEdgeConfig { Edge = e.String("edge", ""), EdgeFingerprint = e.OptionalString("edge_fingerprint", null) },
                "edge", "edge_fingerprint"),
            Token = file.String("token", ""),
            EdgeFingerprint = file.OptionalString("edge_fingerprint", null),
            Insecure = file.Bool("insecure", false),
            SealedRecords = file.Bool("sealed_records", true),
            Name = file.String("name", defaults.Name),
            Connections = file.Int("connections", defaults.Connections),
            Admin = file.OptionalString("admin", null),
            AdminToken = file.OptionalString("admin_token", null),
            Services = file.List(
                "services",
                s => new ServiceConfig
                {
                    Name = s.String("name", ""),
                    Hostnames = s.StringList("hostnames"),
                    PathPrefix = s.OptionalString("path_prefix", null),
                    Port = s.OptionalInt("port"),
                    Target = s.Target("target")!,
                    MaxConcurrency = s.Int("max_concurrency", serviceDefaults.MaxConcurrency),
                    QueueTimeout = s.Duration("queue_timeout", serviceDefaults.QueueTimeout),
                    DialTimeout = s.Duration("dial_timeout", serviceDefaults.DialTimeout),
                    ResponseTimeout = s.Duration("response_timeout", serviceDefaults.ResponseTimeout),
                    MaxRequestBodySize = s.OptionalSize("max_request_body_size"),
                    InsecureSkipVerify = s.Bool("insecure_skip_verify", false),
                    ProxyProtocol = s.OptionalString("proxy_protocol", null),
                    Private = s.Bool("private", false),
                    Policy = s.Has("policy") ? PolicyReader.Read(s.Map("policy", PolicyReader.Keys)) ?? new PolicyConfig() : null,
                },
                "name", "hostnames", "path_prefix", "port", "target", "max_concurrency", "queue_timeout",
                "dial_timeout", "response_timeout", "max_request_body_size", "insecure_skip_verify", "policy", "proxy_protocol", "private"),
            Session = ReadSession(file),
            DrainTimeout = file.Duration("drain_timeout", defaults.DrainTimeout),
        };
    }

    private static SessionConfig ReadSession(Mapping file)
    {
        var defaults = new SessionConfig();
        var session = file.Map("session", "keepalive_interval", "keepalive_timeout");
        return new SessionConfig
        {
            KeepaliveInterval = session.Duration("keepalive_interval", defaults.KeepaliveInterval),
            KeepaliveTimeout = session.Duration("keepalive_timeout", defaults.KeepaliveTimeout),
        };
    }
}
