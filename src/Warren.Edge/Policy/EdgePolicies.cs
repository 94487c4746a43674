using System.Text.Json;
using Warren.Configuration;
using Warren.Edge.Tokens;
using Warren.Protocol.Tunnel;

namespace Warren.Edge.Policy;

/// <summary>
/// edge.yaml <c>policies</c>, compiled once at start, and the step that turns a registration into the
/// <see cref="ServicePolicy"/> its service gets (docs/policy.md). An agent's policy is untrusted input: it is parsed and
/// validated with the same rules as edge.yaml, and anything wrong refuses that one service with the reason.
/// </summary>
internal sealed class EdgePolicies
{
    private Named[] _named;
    private readonly PolicyServices _services;

    private sealed record Named(EdgePolicyConfig Config, PolicyLayer Layer, PolicyKind Kind);

    public EdgePolicies(EdgeConfig config, PolicyServices services)
    {
        _services = services;
        _named = Compile(config, services);
    }

    /// <summary>The compiled edge.yaml policies in force (SchemeSweeper keeps their schemes).</summary>
    public IEnumerable<PolicyLayer> Layers => Volatile.Read(ref _named).Select(n => n.Layer);

    private static Named[] Compile(EdgeConfig config, PolicyServices services) =>
        [.. config.Policies.Select(p => new Named(p, PolicyLayer.Compile($"edge policy '{p.Name}'", "edge." + p.Name, p.Policy, services), PolicyValidator.KindOf(p.Policy)))];

    /// <summary>
    /// Hot reload: compiles edge.yaml's new policies (throws, changing nothing, when one does not compile) and returns
    /// the step that puts them in force. Services registered before keep what they compiled until they register again.
    /// </summary>
    public Action Prepare(EdgeConfig config)
    {
        var named = Compile(config, _services);
        return () => Volatile.Write(ref _named, named);
    }

    /// <summary>
    /// Null when <paramref name="registration"/>'s policy is acceptable, with <paramref name="policy"/> what the service
    /// gets (null: nothing to enforce); otherwise why the service is refused.
    /// </summary>
    public string? Compile(ServiceRegistration registration, TokenGrant grant, out ServicePolicy? policy)
    {
        policy = null;
        var kind = registration.Kind == "tcp" ? PolicyKind.Tcp : PolicyKind.Http;
        PolicyConfig? own = null;
        if (registration.Policy is { } json)
        {
            if (json.ValueKind != JsonValueKind.Object)
            {
                return "policy: must be a JSON object";
            }
            try
            {
                own = PolicyJson.Deserialize(json);
            }
            catch (JsonException ex)
            {
                return "policy: malformed: " + ex.Message;
            }
            var errors = PolicyValidator.Check(own, "policy", kind, allowUse: true);
            if (errors.Count > 0)
            {
                return string.Join("; ", errors.Take(5).Select(e => $"{e.Path}: {e.Message}"));
            }
        }
        var use = own?.Use ?? [];
        var all = Volatile.Read(ref _named); // one set of policies for the whole registration, even across a reload
        foreach (var name in use)
        {
            if (Array.Find(all, n => n.Config.Name == name) is not { } named)
            {
                return $"policy.use: the edge has no policy named '{name}'";
            }
            if (named.Kind != PolicyKind.Any && named.Kind != kind)
            {
                return $"policy.use: edge policy '{name}' is for {named.Kind.ToString().ToUpperInvariant()} services, and {registration.Name} is {kind.ToString().ToUpperInvariant()}";
            }
        }
        foreach (var required in grant.RequirePolicies)
        {
            if (!use.Contains(required))
            {
                return $"token '{grant.Name}' requires every service to use edge policy '{required}': add it to the service's policy.use in agent.yaml";
            }
        }
        var layers = new List<PolicyLayer>();
        foreach (var named in all)
        {
            if (use.Contains(named.Config.Name) || Matches(named.Config, registration, kind))
            {
                layers.Add(named.Layer);
            }
        }
        if (own is not null && (own.Ip is not null || PolicyValidator.KindOf(own) != PolicyKind.Any))
        {
            try
            {
                layers.Add(PolicyLayer.Compile("the service's policy", "service", own, _services));
            }
            catch (Exception ex) when (ex is InvalidOperationException or ArgumentException or FormatException)
            {
                // The validator should have caught it; whatever slipped past refuses this service, never the session.
                return "policy: cannot be applied: " + ex.Message;
            }
        }
        policy = layers.Count == 0 ? null : new ServicePolicy([.. layers]);
        return null;
    }

    private static bool Matches(EdgePolicyConfig config, ServiceRegistration registration, PolicyKind kind) =>
        kind == PolicyKind.Tcp
            ? registration.Port is { } port && config.Ports.Contains(port)
            : registration.Hostnames.Any(host => config.Hosts.Any(pattern => Overlaps(pattern, host)));

    /// <summary>
    /// Whether a request for some name the service answers could fall under <paramref name="pattern"/>. A wildcard
    /// service (*.example.com) that covers a protected name (admin.example.com) gets the policy as a whole: policies
    /// are resolved per service at registration, never per request, and stricter is the safe side.
    /// </summary>
    internal static bool Overlaps(string pattern, string host)
    {
        if (TokenGrant.HostMatches(pattern, host))
        {
            return true;
        }
        if (host.StartsWith("*.", StringComparison.Ordinal))
        {
            var concrete = pattern.StartsWith("*.", StringComparison.Ordinal) ? pattern[2..] : pattern;
            return TokenGrant.HostMatches(host, concrete);
        }
        return false;
    }
}
