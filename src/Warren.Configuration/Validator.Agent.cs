using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;

namespace Warren.Configuration;

/// <summary>The agent's rules (agent.yaml): the edge, the token, the services, their targets and policies.</summary>
internal static partial class Validator
{
    public static AgentConfig Agent(AgentConfig config, Diagnostics d)
    {
        if (config.Edges.Count > 0)
        {
            // A validated config carries its first edge as edge too (for status and logs): not a second edge.
            if (!string.IsNullOrWhiteSpace(config.Edge) && config.Edge != config.Edges[0].Edge)
            {
                d.Report("edges", "give edge (one edge) or edges (the edges of a cluster), not both");
            }
        }
        else if (string.IsNullOrWhiteSpace(config.Edge))
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
        CheckRange(d, "drain_timeout", config.DrainTimeout, TimeSpan.Zero, MaxDrainTimeout);
        var edges = CheckAgentEdges(d, config.Edges, fingerprint, config.Insecure);
        return config with
        {
            Edge = edges.Count > 0 ? edges[0].Edge : config.Edge,
            Edges = edges,
            EdgeFingerprint = fingerprint,
            Admin = string.IsNullOrEmpty(config.Admin) ? null : config.Admin,
            AdminToken = string.IsNullOrEmpty(config.AdminToken) ? null : config.AdminToken,
        };
    }

    /// <summary>The most edges an agent attaches to (each holds <c>connections</c> sessions).</summary>
    public const int MaxAgentEdges = 16;

    /// <summary>agent.yaml's <c>edges</c> (docs/cluster.md, "Agents"): each an address, each fingerprint normalised (default the top-level one).</summary>
    private static List<AgentEdgeConfig> CheckAgentEdges(Diagnostics d, IReadOnlyList<AgentEdgeConfig> edges, string? fingerprint, bool insecure)
    {
        if (edges.Count > MaxAgentEdges)
        {
            d.Report("edges", $"{edges.Count} edges; an agent attaches to at most {MaxAgentEdges}");
        }
        var result = new List<AgentEdgeConfig>(edges.Count);
        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        for (var i = 0; i < edges.Count; i++)
        {
            var path = Diagnostics.Item("edges", i);
            var edge = edges[i];
            if (string.IsNullOrWhiteSpace(edge.Edge))
            {
                d.Report($"{path}.edge", "required: this edge's agent address as host:port, e.g. edge-b.example.com:7443");
            }
            else if (CheckAddress(d, $"{path}.edge", edge.Edge, allowZero: false) && !seen.Add(edge.Edge))
            {
                d.Report($"{path}.edge", $"'{edge.Edge}' is listed twice; list each edge once (connections: sets the sessions per edge)");
            }
            var own = edge.EdgeFingerprint;
            if (!string.IsNullOrEmpty(own))
            {
                var hex = own.Replace(":", "", StringComparison.Ordinal);
                if (IsSha256Hex(hex))
                {
                    own = hex.ToLowerInvariant();
                }
                else
                {
                    d.Report($"{path}.edge_fingerprint", $"'{own}' is not a SHA-256 fingerprint; expected 64 hex digits (colons allowed)");
                }
                if (insecure)
                {
                    d.Report("insecure", "insecure (plain TCP) cannot be combined with edge_fingerprint (TLS); remove one");
                }
            }
            result.Add(edge with { EdgeFingerprint = string.IsNullOrEmpty(own) ? fingerprint : own });
        }
        return result;
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

            if (!ServiceRules.IsName(service.Name))
            {
                d.Report($"{path}.name", ServiceRules.NameProblem(service.Name, "service"));
            }
            else if (!names.TryAdd(service.Name, path))
            {
                d.Report($"{path}.name", $"'{service.Name}' is already the name of {names[service.Name]}; service names must be unique");
            }

            var kind = CheckTarget(d, path, service.Target);
            var targetText = service.Target is null ? "" : $" ({service.Target.OriginalString})";
            if (service.Private)
            {
                CheckPrivate(d, path, kind, service);
            }
            else if (kind == "tcp")
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

            if (service.ProxyProtocol is { } proxy)
            {
                if (proxy is not ("v1" or "v2"))
                {
                    d.Report($"{path}.proxy_protocol", $"'{LogText.Bound(proxy, 16)}' is not a PROXY protocol version; use v1 (text) or v2 (binary), as the backend expects");
                }
                else if (kind is "http" or "https")
                {
                    // A tunnelled HTTP connection carries requests of many clients (the edge pools them): one header
                    // per connection would name the wrong client; HTTP services get X-Forwarded-For instead.
                    d.Report($"{path}.proxy_protocol", "applies only to TCP services (tcp:// targets); an HTTP service gets the client in X-Forwarded-For");
                }
            }

            if (service.InsecureSkipVerify && kind is "http" or "tcp")
            {
                d.Report($"{path}.insecure_skip_verify", "applies only to https:// targets; remove it");
            }

            CheckHostPatterns(d, $"{path}.hostnames", service.Hostnames);
            if (service.Hostnames.Count > ServiceRules.MaxHostnamesPerService)
            {
                d.Report($"{path}.hostnames", $"has {service.Hostnames.Count} hostnames; a service may have at most {ServiceRules.MaxHostnamesPerService} (use a wildcard such as *.example.com)");
            }

            if (service.PathPrefix is { } prefix && ServiceRules.PathPrefixProblem(prefix) is { } prefixProblem)
            {
                d.Report($"{path}.path_prefix", prefixProblem);
            }

            for (var h = 0; h < service.Hostnames.Count; h++)
            {
                var key = (HostNames.ToLowerAscii(service.Hostnames[h]), service.PathPrefix ?? "");
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

            if (service.MaxConcurrency is < 1 or > ServiceRules.MaxConcurrency)
            {
                d.Report($"{path}.max_concurrency", $"must be 1 to {ServiceRules.MaxConcurrency} (it is {service.MaxConcurrency})");
            }

            CheckPositive(d, $"{path}.queue_timeout", service.QueueTimeout);
            CheckPositive(d, $"{path}.dial_timeout", service.DialTimeout);
            CheckRange(d, $"{path}.response_timeout", service.ResponseTimeout, ServiceRules.MinResponseTimeout, ServiceRules.MaxResponseTimeout);
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

    /// <summary>
    /// A private service (docs/operations.md, "Private services") is reached only through <c>warren connect</c>, which
    /// carries raw bytes: a tcp:// target (an admin panel too: tcp://127.0.0.1:8080), and nothing public to publish on.
    /// </summary>
    private static void CheckPrivate(Diagnostics d, string path, string? kind, ServiceConfig service)
    {
        if (kind is "http" or "https")
        {
            d.Report($"{path}.target", $"a private service carries raw TCP (warren connect): use a tcp:// target, e.g. tcp://{service.Target.Host}:{service.Target.Port}");
        }
        if (service.Port is not null)
        {
            d.Report($"{path}.port", "a private service is published on no port; remove port (clients reach it with warren connect)");
        }
        if (service.Hostnames.Count > 0)
        {
            d.Report($"{path}.hostnames", "a private service is published on no hostname; remove hostnames (clients reach it with warren connect)");
        }
        if (service.PathPrefix is not null)
        {
            d.Report($"{path}.path_prefix", "a private service has no paths; remove path_prefix");
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
}
