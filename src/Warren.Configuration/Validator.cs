using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;

namespace Warren.Configuration;

/// <summary>
/// Rules over the records, shared by files and configs built in code. Every error is collected;
/// none repeats a token's value. Returns the record with values normalised (hex lowercased).
/// </summary>
internal static partial class Validator
{
    public const string TargetExpected = "a valid target; use http://host:port, https://host:port or tcp://host:port";

    private const string AddressHint = "use host:port, e.g. 0.0.0.0:8080, [::1]:8080 or localhost:8080";

    public static EdgeConfig Edge(EdgeConfig config, Diagnostics d)
    {
        var listeners = new List<(string Path, string Value)>();
        CheckListen(d, "listen.http", config.Listen.Http, required: false, listeners);
        CheckListen(d, "listen.https", config.Listen.Https, required: false, listeners);
        CheckListen(d, "listen.agents", config.Listen.Agents, required: true, listeners);
        CheckListen(d, "listen.admin", config.Listen.Admin, required: true, listeners);
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

        CheckAdmin(d, "listen.admin", config.Listen.Admin, config.AdminToken);
        CheckTrustedProxies(d, config.TrustedProxies);
        CheckAcme(d, config);
        return config with { Tokens = tokens, AdminToken = string.IsNullOrEmpty(config.AdminToken) ? null : config.AdminToken };
    }

    public static AgentConfig Agent(AgentConfig config, Diagnostics d)
    {
        if (string.IsNullOrWhiteSpace(config.Edge))
        {
            d.Report("edge", "required: the edge's agent address as host:port, e.g. edge.example.com:7443");
        }
        else
        {
            CheckAddress(d, "edge", config.Edge, allowZero: false);
        }

        if (string.IsNullOrEmpty(config.Token))
        {
            d.Report("token", "required: the agent token the edge knows this agent by; e.g. token: ${WARREN_TOKEN}");
        }
        else if (config.Token.Trim().Length != config.Token.Length)
        {
            d.Report("token", "has leading or trailing whitespace; remove it (the value is not shown)");
        }

        var fingerprint = config.EdgeFingerprint;
        if (!string.IsNullOrEmpty(fingerprint))
        {
            var hex = fingerprint.Replace(":", "", StringComparison.Ordinal);
            if (IsSha256Hex(hex))
            {
                fingerprint = hex.ToLowerInvariant();
            }
            else
            {
                d.Report("edge_fingerprint", $"'{fingerprint}' is not a SHA-256 fingerprint; expected 64 hex digits (colons allowed)");
            }

            if (config.Insecure)
            {
                d.Report("insecure", "insecure (plain TCP) cannot be combined with edge_fingerprint (TLS); remove one");
            }
        }
        else
        {
            fingerprint = null;
        }

        if (string.IsNullOrWhiteSpace(config.Name) || config.Name.Length > 253 || config.Name.Any(c => char.IsControl(c) || char.IsWhiteSpace(c)))
        {
            d.Report("name", "must be 1 to 253 characters without spaces; it names this agent in the edge's logs and metrics");
        }

        if (config.Connections is < 1 or > 16)
        {
            d.Report("connections", $"must be 1 to 16 (it is {config.Connections})");
        }

        if (!string.IsNullOrEmpty(config.Admin))
        {
            CheckAddress(d, "admin", config.Admin, allowZero: true);
        }

        CheckAdmin(d, "admin", config.Admin, config.AdminToken);

        CheckServices(d, config.Services);
        CheckSession(d, config.Session);
        return config with
        {
            EdgeFingerprint = fingerprint,
            Admin = string.IsNullOrEmpty(config.Admin) ? null : config.Admin,
            AdminToken = string.IsNullOrEmpty(config.AdminToken) ? null : config.AdminToken,
        };
    }

    private static void CheckServices(Diagnostics d, IReadOnlyList<ServiceConfig> services)
    {
        var names = new Dictionary<string, string>(StringComparer.Ordinal);
        var routes = new Dictionary<(string Host, string Prefix), string>();
        var ports = new Dictionary<int, string>();
        for (var i = 0; i < services.Count; i++)
        {
            var path = Diagnostics.Item("services", i);
            var service = services[i];
            var label = string.IsNullOrEmpty(service.Name) ? path : $"{path} ('{service.Name}')";

            if (!ServiceName().IsMatch(service.Name))
            {
                d.Report($"{path}.name", NameRule(service.Name, "service"));
            }
            else if (!names.TryAdd(service.Name, path))
            {
                d.Report($"{path}.name", $"'{service.Name}' is already the name of {names[service.Name]}; service names must be unique");
            }

            var kind = CheckTarget(d, path, service.Target);
            var targetText = service.Target is null ? "" : $" ({service.Target.OriginalString})";
            if (kind == "tcp")
            {
                if (service.Port is null)
                {
                    d.Report($"{path}.port", $"required for a TCP service (tcp:// target{targetText}): the port the edge publishes it on");
                }

                if (service.Hostnames.Count > 0)
                {
                    d.Report($"{path}.hostnames", "a TCP service (tcp:// target) is reached by port, not hostname; remove hostnames, or use an http:// target");
                }

                if (service.PathPrefix is not null)
                {
                    d.Report($"{path}.path_prefix", "a TCP service (tcp:// target) has no paths; remove path_prefix, or use an http:// target");
                }
            }
            else if (kind is "http" or "https")
            {
                if (service.Hostnames.Count == 0)
                {
                    d.Report($"{path}.hostnames", $"required for an HTTP service ({kind}:// target): the hostnames the edge serves it on, e.g. [app.example.com]");
                }

                if (service.Port is not null)
                {
                    d.Report($"{path}.port", $"only TCP services (tcp:// targets) have a port; an HTTP service is reached by its hostnames — remove port, or use a tcp:// target");
                }
            }

            if (service.InsecureSkipVerify && kind is "http" or "tcp")
            {
                d.Report($"{path}.insecure_skip_verify", "applies only to https:// targets; remove it");
            }

            CheckHostPatterns(d, $"{path}.hostnames", service.Hostnames);
            if (service.PathPrefix is { } prefix && (!prefix.StartsWith('/') || prefix.Any(c => c is '?' or '#' || char.IsWhiteSpace(c) || char.IsControl(c))))
            {
                d.Report($"{path}.path_prefix", $"'{prefix}' must start with '/' and hold no spaces, '?' or '#', e.g. /api");
            }

            for (var h = 0; h < service.Hostnames.Count; h++)
            {
                var key = (service.Hostnames[h].ToLowerInvariant(), service.PathPrefix ?? "");
                if (!routes.TryAdd(key, label))
                {
                    var with = key.Item2.Length == 0 ? "" : $" with path_prefix {key.Item2}";
                    d.Report(Diagnostics.Item($"{path}.hostnames", h), $"'{service.Hostnames[h]}'{with} is already served by {routes[key]}");
                }
            }

            if (service.Port is { } port)
            {
                if (port is < 1 or > 65535)
                {
                    d.Report($"{path}.port", $"must be 1 to 65535 (it is {port})");
                }
                else if (!ports.TryAdd(port, label))
                {
                    d.Report($"{path}.port", $"port {port} is already published by {ports[port]}");
                }
            }

            if (service.MaxConcurrency is < 1 or > 100_000)
            {
                d.Report($"{path}.max_concurrency", $"must be 1 to 100000 (it is {service.MaxConcurrency})");
            }

            CheckPositive(d, $"{path}.queue_timeout", service.QueueTimeout);
            CheckPositive(d, $"{path}.dial_timeout", service.DialTimeout);
            CheckPositive(d, $"{path}.response_timeout", service.ResponseTimeout);
            if (service.MaxRequestBodySize is <= 0)
            {
                d.Report($"{path}.max_request_body_size", $"must be more than 0 bytes (it is {service.MaxRequestBodySize}); leave it out to use the edge's limit");
            }

            if (service.Policy is { } policy && kind is not null)
            {
                PolicyValidator.Check(d, $"{path}.policy", policy, kind == "tcp" ? PolicyKind.Tcp : PolicyKind.Http, allowUse: true);
            }
        }
    }

    /// <summary>The target's scheme when it is usable, else null after reporting.</summary>
    private static string? CheckTarget(Diagnostics d, string path, Uri? target)
    {
        if (target is null)
        {
            d.Report($"{path}.target", "required: where the agent forwards to, e.g. http://localhost:8080 or tcp://localhost:5432");
            return null;
        }

        var scheme = target.IsAbsoluteUri ? target.Scheme : "";
        var valid = scheme is "http" or "https" or "tcp"
            && target.Host.Length > 0
            && target.Port is > 0 and <= 65535
            && target.UserInfo.Length == 0
            && target.AbsolutePath == "/" && target.Query.Length == 0 && target.Fragment.Length == 0;
        if (!valid)
        {
            var reason = scheme is "http" or "https" or "tcp" && target.AbsolutePath != "/" ? " (a path is not supported; use path_prefix to route by path)" : "";
            d.Report($"{path}.target", $"'{target.OriginalString}' is not {TargetExpected}{reason}");
            return null;
        }

        return scheme;
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
            if (!ServiceName().IsMatch(entry.Name))
            {
                d.Report($"{path}.name", NameRule(entry.Name, "token"));
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

            result.Add(entry.TokenSha256 is null ? entry : entry with { TokenSha256 = entry.TokenSha256.ToLowerInvariant() });
        }

        normalised = result;
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
            if (!ServiceName().IsMatch(entry.Name))
            {
                d.Report($"{path}.name", NameRule(entry.Name, "policy"));
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

    /// <summary>The admin listener may leave loopback only with a token; a token must be long enough (AdminAccess).</summary>
    private static void CheckAdmin(Diagnostics d, string path, string? address, string? token)
    {
        if (!string.IsNullOrEmpty(token))
        {
            if (AdminAccess.Problem(token) is { } problem)
            {
                d.Report("admin_token", problem);
            }
        }
        else if (!string.IsNullOrEmpty(address) && ConfigFormats.TryParseHostPort(address, out _, out _) && !AdminAccess.IsLoopback(address))
        {
            d.Report(path, $"'{address}' is not a loopback address, and the admin listener serves status and metrics: set admin_token (e.g. admin_token: ${{WARREN_ADMIN_TOKEN}}, {AdminAccess.MinimumTokenLength}+ characters) so they need it, or bind to 127.0.0.1");
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

    private static void CheckHostPatterns(Diagnostics d, string path, IReadOnlyList<string> hosts)
    {
        for (var i = 0; i < hosts.Count; i++)
        {
            var host = hosts[i];
            if (ConfigFormats.IsHostPattern(host))
            {
                continue;
            }

            var lower = host.ToLowerInvariant();
            d.Report(Diagnostics.Item(path, i), ConfigFormats.IsHostPattern(lower)
                ? $"'{host}' must be lowercase: '{lower}'"
                : $"'{host}' is not a valid hostname; use a DNS name such as app.example.com or a wildcard such as *.example.com");
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

    private static void CheckSession(Diagnostics d, SessionConfig session)
    {
        // Below 100 ms a loaded host misses its own pings; above an hour a dead link is never noticed in practice.
        var interval = session.KeepaliveInterval;
        var timeout = session.KeepaliveTimeout;
        CheckRange(d, "session.keepalive_interval", interval, TimeSpan.FromMilliseconds(100), TimeSpan.FromHours(1));
        CheckRange(d, "session.keepalive_timeout", timeout, TimeSpan.FromMilliseconds(100), TimeSpan.FromHours(1));
        if (timeout <= interval)
        {
            d.Report("session.keepalive_timeout", $"must be longer than session.keepalive_interval ({Seconds(timeout)}s is not more than {Seconds(interval)}s); e.g. three intervals");
        }
    }

    private static void CheckRange(Diagnostics d, string path, TimeSpan value, TimeSpan min, TimeSpan max)
    {
        if (value < min || value > max)
        {
            d.Report(path, $"must be {Seconds(min)}s to {Seconds(max)}s (it is {Seconds(value)}s)");
        }
    }

    private static string Seconds(TimeSpan value) => value.TotalSeconds.ToString(CultureInfo.InvariantCulture);

    private static void CheckPositive(Diagnostics d, string path, TimeSpan value)
    {
        if (value <= TimeSpan.Zero)
        {
            d.Report(path, $"must be longer than 0 (it is {value.TotalSeconds.ToString(CultureInfo.InvariantCulture)}s)");
        }
    }

    private static string NameRule(string name, string what) =>
        $"'{name}' is not a valid {what} name; use 1 to 63 characters of a-z, 0-9, '-', '_' and '.', starting with a letter or digit";

    private static bool IsSha256Hex(string text) => text.Length == 64 && text.All(char.IsAsciiHexDigit);

    [GeneratedRegex("^[a-z0-9][a-z0-9._-]{0,62}$")]
    private static partial Regex ServiceName();
}
