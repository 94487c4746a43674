namespace Warren.Configuration;

/// <summary>
/// One entry of edge.yaml <c>policies</c>: a named policy the operator enforces on every service whose hostname
/// matches <see cref="Hosts"/> or whose port is in <see cref="Ports"/>, and on services whose agent asks for it by
/// name (<c>policy.use</c>). A token's <c>require_policies</c> names policies its services must use.
/// </summary>
public sealed record EdgePolicyConfig
{
    public string Name { get; init; } = "";

    /// <summary>YAML key <c>match.hosts</c>: exact hostnames or "*.example.com" (which also matches the wildcard itself).</summary>
    public IReadOnlyList<string> Hosts { get; init; } = [];

    /// <summary>YAML key <c>match.ports</c>: TCP service ports.</summary>
    public IReadOnlyList<int> Ports { get; init; } = [];

    /// <summary>The policy itself (every other key of the entry).</summary>
    public PolicyConfig Policy { get; init; } = new();
}
