using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;

namespace Warren.Configuration;

/// <summary>The edge's rules (edge.yaml): listeners, tokens and their grants, policies, admin access, proxies, agent link TLS, certificates.</summary>
internal static partial class Validator
{
    public static EdgeConfig Edge(EdgeConfig config, Diagnostics d)
    {
        var listeners = new List<(string Path, string Value)>();
        CheckListen(d, "listen.http", config.Listen.Http, required: false, listeners);
        CheckListen(d, "listen.https", config.Listen.Https, required: false, listeners);
        CheckListen(d, "listen.agents", config.Listen.Agents, required: true, listeners);
        CheckListen(d, "listen.admin", config.Listen.Admin, required: true, listeners);
        CheckCluster(d, config.Cluster, listeners);
        if (!ConfigFormats.IsIPAddress(config.Listen.TcpAddress))
        {
            d.Report("listen.tcp_address", $"'{config.Listen.TcpAddress}' is not an IP address; TCP service ports bind on one, e.g. 0.0.0.0 (all IPv4), :: (all), 127.0.0.1 or 10.0.0.5 (no port: each service's port is its own)");
        }
        CheckDistinctListeners(d, listeners);

        for (var i = 0; i < config.Certificates.Count; i++)
        {
            var path = Diagnostics.Item("certificates", i);
            var certificate = config.Certificates[i];
            if (certificate.Hosts.Count == 0)
            {
                d.Report($"{path}.hosts", "required: list the hostnames this certificate serves, e.g. [example.com, \"*.example.com\"]");
            }

            CheckHostPatterns(d, $"{path}.hosts", certificate.Hosts);
            CheckFile(d, $"{path}.cert", certificate.Cert, "the PEM certificate (chain) file");
            CheckFile(d, $"{path}.key", certificate.Key, "the PEM private key file");
        }

        if (string.IsNullOrWhiteSpace(config.DataDirectory))
        {
            d.Report("data", "required: the folder where the edge keeps its state, e.g. /var/lib/warren");
        }

        CheckTokens(d, config.Tokens, out var tokens);
        CheckEdgePolicies(d, config.Policies, config.Tokens);
        CheckAgentTls(d, config.AgentTls);

        var limits = config.Limits;
        if (limits.MaxRequestBodySize <= 0)
        {
            d.Report("limits.max_request_body_size", $"must be more than 0 bytes (it is {limits.MaxRequestBodySize})");
        }

        if (limits.MaxServicesPerSession is < 1 or > 100_000)
        {
            d.Report("limits.max_services_per_session", $"must be 1 to 100000 (it is {limits.MaxServicesPerSession})");
        }

        if (limits.MaxConnections < 1)
        {
            d.Report("limits.max_connections", $"must be at least 1 (it is {limits.MaxConnections})");
        }

        CheckPositive(d, "limits.request_headers_timeout", limits.RequestHeadersTimeout);
        CheckPositive(d, "limits.idle_timeout", limits.IdleTimeout);
        CheckSession(d, config.Session);
        if (limits.MaxConnectionsPerIp is < 1 or > 1_000_000)
        {
            d.Report("limits.max_connections_per_ip", $"must be 1 to 1000000 (it is {limits.MaxConnectionsPerIp})");
        }

        if (limits.MaxAuthFailuresPerIp is < 1 or > 1_000_000)
        {
            d.Report("limits.max_auth_failures_per_ip", $"must be 1 to 1000000 (it is {limits.MaxAuthFailuresPerIp})");
        }

        if (limits.AuthFailureWindow < TimeSpan.FromSeconds(1) || limits.AuthFailureWindow > TimeSpan.FromDays(1))
        {
            d.Report("limits.auth_failure_window", $"must be 1s to 24h (it is {limits.AuthFailureWindow.TotalSeconds.ToString(CultureInfo.InvariantCulture)}s)");
        }

        CheckRange(d, "limits.max_agent_connections_per_ip", limits.MaxAgentConnectionsPerIp, 1, 1_000_000);
        CheckRange(d, "limits.max_requests_per_ip_per_service", limits.MaxRequestsPerIpPerService, 1, 1_000_000);
        CheckRange(d, "limits.max_tcp_connections_per_ip", limits.MaxTcpConnectionsPerIp, 1, 1_000_000);
        CheckRange(d, "limits.max_tcp_connections_per_service", limits.MaxTcpConnectionsPerService, 1, 1_000_000);
        CheckRange(d, "limits.ipv6_subnet_factor", limits.Ipv6SubnetFactor, 1, 65_536);
        CheckRange(d, "limits.max_connect_streams_per_session", limits.MaxConnectStreamsPerSession, 1, 100_000);
        CheckPositive(d, "limits.request_queue_timeout", limits.RequestQueueTimeout);
        foreach (var (path, rate) in new[] { ("limits.min_request_body_data_rate", limits.MinRequestBodyDataRate), ("limits.min_response_data_rate", limits.MinResponseDataRate) })
        {
            if (rate is < 0 or > 1_000_000_000)
            {
                d.Report(path, $"must be 0 (off) to 1GB bytes per second (it is {rate})");
            }
        }

        // Kestrel checks the rates once a second, and refuses a grace period of one second or less.
        CheckRange(d, "limits.data_rate_grace_period", limits.DataRateGracePeriod, TimeSpan.FromSeconds(2), TimeSpan.FromHours(1));

        CheckAccessLog(d, config.AccessLog);
        CheckAdmin(d, "listen.admin", config.Listen.Admin, config.AdminToken);
        CheckRange(d, "drain_timeout", config.DrainTimeout, TimeSpan.Zero, MaxDrainTimeout);
        CheckRange(d, "grace.timeout", config.Grace.Timeout, TimeSpan.Zero, TimeSpan.FromMinutes(5));
        CheckRange(d, "grace.remember", config.Grace.Remember, TimeSpan.Zero, TimeSpan.FromDays(7));
        if (config.Grace.MaxWaiting is < 1 or > 100_000)
        {
            d.Report("grace.max_waiting", $"must be 1 to 100000 (it is {config.Grace.MaxWaiting})");
        }

        CheckTrustedProxies(d, config.TrustedProxies);
        CheckAcme(d, config);
        CheckConsole(d, config);
        CheckShield(d, config.Shield);
        return config with { Tokens = tokens, AdminToken = string.IsNullOrEmpty(config.AdminToken) ? null : config.AdminToken };
    }

    private static void CheckAccessLog(Diagnostics d, AccessLogConfig access)
    {
        if (access.Output is not (AccessLogConfig.Off or AccessLogConfig.Stdout or AccessLogConfig.File))
        {
            d.Report("access_log.output", $"'{LogText.Bound(access.Output, 32)}' is not an output; use stdout (the console log), file (access_log.path, rotated) or off");
        }

        if (access.Path is not null && access.Output != AccessLogConfig.File)
        {
            d.Report("access_log.path", $"is only used with output: file (output is {LogText.Bound(access.Output, 32)})");
        }

        // Rotation checks the size before each line: below a few lines per file it would rotate on every line.
        if (access.MaxSize is < 1024 or > 1L << 40)
        {
            d.Report("access_log.max_size", $"must be 1KB to 1TB (it is {access.MaxSize} bytes)");
        }

        CheckRange(d, "access_log.max_files", access.MaxFiles, 1, 1000);
    }

    private static void CheckTokens(Diagnostics d, IReadOnlyList<EdgeTokenConfig> entries, out IReadOnlyList<EdgeTokenConfig> normalised)
    {
        var names = new Dictionary<string, string>(StringComparer.Ordinal);
        var hashes = new Dictionary<string, string>(StringComparer.Ordinal);
        var result = new List<EdgeTokenConfig>(entries.Count);
        for (var i = 0; i < entries.Count; i++)
        {
            var path = Diagnostics.Item("tokens", i);
            var entry = entries[i];
            if (!ServiceRules.IsName(entry.Name))
            {
                d.Report($"{path}.name", ServiceRules.NameProblem(entry.Name, "token"));
            }
            else if (!names.TryAdd(entry.Name, path))
            {
                d.Report($"{path}.name", $"'{entry.Name}' is already the name of {names[entry.Name]}; token names must be unique");
            }

            string? hash = null;
            if (entry.Token is null == entry.TokenSha256 is null)
            {
                d.Report(path, entry.Token is null
                    ? "needs token (the token itself, e.g. token: ${AGENT_TOKEN}) or token_sha256 (its SHA-256 in hex)"
                    : "has both token and token_sha256; keep exactly one");
            }
            else if (entry.Token is { } token)
            {
                if (token.Length is < 16 or > 512)
                {
                    d.Report($"{path}.token", $"must be 16 to 512 characters long (it is {token.Length}; the value is not shown); e.g. generate one with 'openssl rand -hex 32'");
                }
                else if (token.Trim().Length != token.Length)
                {
                    d.Report($"{path}.token", "has leading or trailing whitespace; remove it (the value is not shown)");
                }

                hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(token)));
            }
            else if (IsSha256Hex(entry.TokenSha256!))
            {
                hash = entry.TokenSha256!.ToLowerInvariant();
            }
            else
            {
                d.Report($"{path}.token_sha256", $"must be 64 hex digits, the SHA-256 of the token (it is {entry.TokenSha256!.Length} characters; the value is not shown)");
            }

            if (hash is not null && !hashes.TryAdd(hash, path))
            {
                d.Report(path, $"has the same token as {hashes[hash]}; give each agent its own token");
            }

            CheckHostPatterns(d, $"{path}.allow_hosts", entry.AllowHosts);
            CheckPorts(d, $"{path}.allow_ports", entry.AllowPorts);
            CheckServiceNames(d, $"{path}.allow_private", entry.AllowPrivate);
            CheckServiceNames(d, $"{path}.allow_connect", entry.AllowConnect);
            CheckQuota(d, $"{path}.quota", entry.Quota);

            result.Add(entry.TokenSha256 is null ? entry : entry with { TokenSha256 = entry.TokenSha256.ToLowerInvariant() });
        }

        normalised = result;
    }

    /// <summary>Private service names a token may publish or reach: each a service name (ServiceRules).</summary>
    private static void CheckServiceNames(Diagnostics d, string path, IReadOnlyList<string> names)
    {
        for (var i = 0; i < names.Count; i++)
        {
            if (!ServiceRules.IsName(names[i]))
            {
                d.Report(Diagnostics.Item(path, i), ServiceRules.NameProblem(names[i], "service"));
            }
        }
    }

    private static void CheckPorts(Diagnostics d, string path, IReadOnlyList<int> ports)
    {
        for (var p = 0; p < ports.Count; p++)
        {
            if (ports[p] is < 1 or > 65535)
            {
                d.Report(Diagnostics.Item(path, p), $"must be 1 to 65535 (it is {ports[p]})");
            }
        }
    }

    private static void CheckEdgePolicies(Diagnostics d, IReadOnlyList<EdgePolicyConfig> policies, IReadOnlyList<EdgeTokenConfig> tokens)
    {
        var names = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = 0; i < policies.Count; i++)
        {
            var path = Diagnostics.Item("policies", i);
            var entry = policies[i];
            if (!ServiceRules.IsName(entry.Name))
            {
                d.Report($"{path}.name", ServiceRules.NameProblem(entry.Name, "policy"));
            }
            else if (!names.TryAdd(entry.Name, path))
            {
                d.Report($"{path}.name", $"'{entry.Name}' is already the name of {names[entry.Name]}; policy names must be unique");
            }

            CheckHostPatterns(d, $"{path}.match.hosts", entry.Hosts);
            CheckPorts(d, $"{path}.match.ports", entry.Ports);

            var kind = PolicyValidator.KindOf(entry.Policy);
            if (kind == PolicyKind.Http && entry.Ports.Count > 0)
            {
                d.Report($"{path}.match.ports", "this policy has HTTP rules; match TCP ports with a policy of ip, max_connections_per_ip and connection_rate only");
            }
            else if (kind == PolicyKind.Tcp && entry.Hosts.Count > 0)
            {
                d.Report($"{path}.match.hosts", "this policy has TCP rules (max_connections_per_ip, connection_rate); match hostnames with an HTTP policy");
            }

            PolicyValidator.Check(d, path, entry.Policy, PolicyKind.Any, allowUse: false);
        }

        for (var i = 0; i < tokens.Count; i++)
        {
            for (var r = 0; r < tokens[i].RequirePolicies.Count; r++)
            {
                if (!names.ContainsKey(tokens[i].RequirePolicies[r]))
                {
                    d.Report(Diagnostics.Item($"{Diagnostics.Item("tokens", i)}.require_policies", r), $"'{tokens[i].RequirePolicies[r]}' is not the name of a policy in policies");
                }
            }
        }
    }

    private static void CheckTrustedProxies(Diagnostics d, IReadOnlyList<string> proxies)
    {
        for (var i = 0; i < proxies.Count; i++)
        {
            var path = Diagnostics.Item("trusted_proxies", i);
            var text = proxies[i];
            if (!ConfigFormats.TryParseNetwork(text, out var network))
            {
                d.Report(path, $"'{text}' is not an IP address or CIDR range; use e.g. 10.0.0.5, 10.0.0.0/8 or 2001:db8::/32 (a range's address must have no bits set past its prefix)");
            }
            else if (network.PrefixLength == 0)
            {
                d.Report(path, $"'{text}' trusts every address, so any client could forge X-Forwarded-For; list your proxies' addresses");
            }
            else if (network.BaseAddress.IsIPv4MappedToIPv6)
            {
                d.Report(path, $"'{text}' is an IPv4-mapped IPv6 address; write it as IPv4 (peers are compared as IPv4)");
            }
        }
    }

    private static void CheckAgentTls(Diagnostics d, AgentLinkConfig tls)
    {
        var hasCert = !string.IsNullOrEmpty(tls.Cert);
        var hasKey = !string.IsNullOrEmpty(tls.Key);
        if (hasCert != hasKey)
        {
            d.Report(hasCert ? "agent_tls.key" : "agent_tls.cert", "agent_tls needs both cert and key, or neither (then a self-signed certificate is generated in the data folder)");
        }

        if (hasCert)
        {
            CheckFile(d, "agent_tls.cert", tls.Cert!, "the PEM certificate file");
        }

        if (hasKey)
        {
            CheckFile(d, "agent_tls.key", tls.Key!, "the PEM private key file");
        }

        if (tls.Insecure && (hasCert || hasKey))
        {
            d.Report("agent_tls.insecure", "insecure (plain TCP) cannot be combined with cert and key (TLS); remove one");
        }
    }

    private static void CheckListen(Diagnostics d, string path, string? value, bool required, List<(string, string)> listeners)
    {
        if (string.IsNullOrEmpty(value))
        {
            if (required)
            {
                d.Report(path, $"required: {AddressHint}");
            }

            return;
        }

        if (CheckAddress(d, path, value, allowZero: true))
        {
            listeners.Add((path, value));
        }
    }

    private static bool CheckAddress(Diagnostics d, string path, string value, bool allowZero)
    {
        if (!ConfigFormats.TryParseHostPort(value, out _, out var port))
        {
            d.Report(path, $"'{value}' is not a valid address; {AddressHint}");
            return false;
        }

        if (port == 0 && !allowZero)
        {
            d.Report(path, $"'{value}' has port 0; give the port to connect to (1 to 65535)");
            return false;
        }

        return true;
    }

    private static void CheckDistinctListeners(Diagnostics d, List<(string Path, string Value)> listeners)
    {
        var parsed = new List<(string Path, string Value, string Host, int Port)>();
        foreach (var (path, value) in listeners)
        {
            if (ConfigFormats.TryParseHostPort(value, out var host, out var port))
            {
                parsed.Add((path, value, host, port));
            }
        }

        for (var i = 0; i < parsed.Count; i++)
        {
            var (path, value, host, port) = parsed[i];
            var clash = parsed.Take(i).FirstOrDefault(other => port != 0 && port == other.Port
                && (string.Equals(host, other.Host, StringComparison.OrdinalIgnoreCase) || IsWildcard(host) || IsWildcard(other.Host)));
            if (clash.Path is not null)
            {
                d.Report(path, $"'{value}' overlaps {clash.Path} ('{clash.Value}'); each listener needs its own port or address");
            }
        }
    }

    private static bool IsWildcard(string host) => host is "0.0.0.0" or "::" || host == "0:0:0:0:0:0:0:0";

    /// <summary>Hostnames and wildcards as <see cref="HostNames"/> defines them; config files must already hold the normal (lowercase) form.</summary>
    private static void CheckHostPatterns(Diagnostics d, string path, IReadOnlyList<string> hosts)
    {
        for (var i = 0; i < hosts.Count; i++)
        {
            var host = hosts[i];
            if (!HostNames.TryNormalize(host, allowWildcard: true, out var normalized, out var problem))
            {
                d.Report(Diagnostics.Item(path, i), problem);
            }
            else if (!string.Equals(normalized, host, StringComparison.Ordinal))
            {
                d.Report(Diagnostics.Item(path, i), $"'{host}' must be lowercase: '{normalized}'");
            }
        }
    }

    private static void CheckFile(Diagnostics d, string path, string file, string what)
    {
        if (string.IsNullOrWhiteSpace(file))
        {
            d.Report(path, $"required: the path of {what}");
        }
        else if (!File.Exists(file))
        {
            d.Report(path, $"file not found: {file}");
        }
    }
}
