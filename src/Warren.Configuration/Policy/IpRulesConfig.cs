namespace Warren.Configuration;

/// <summary>
/// YAML key <c>ip</c> of a policy: CIDR ranges or single addresses, IPv4 and IPv6. A client in <see cref="Deny"/> is
/// refused; when <see cref="Allow"/> is not empty, a client outside it is refused. The client address is the
/// connection's peer, or, from a <c>trusted_proxies</c> peer, the nearest untrusted X-Forwarded-For entry.
/// </summary>
public sealed record IpRulesConfig
{
    public IReadOnlyList<string> Allow { get; init; } = [];

    public IReadOnlyList<string> Deny { get; init; } = [];
}
