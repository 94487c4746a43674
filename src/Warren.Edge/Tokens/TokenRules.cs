using Warren.Configuration;

namespace Warren.Edge.Tokens;

/// <summary>
/// What a token created at run time (<c>warren token create</c>, <c>POST /api/tokens</c>) must look like: one set of
/// rules, worded with the caller's names for the fields (flags or JSON keys).
/// </summary>
public static class TokenRules
{
    /// <summary>How the caller names each field in its messages.</summary>
    public sealed record Labels(string Name, string Host, string Port, string MaxSessions, string Private = "allow_private", string Connect = "allow_connect");

    public static Labels Flags { get; } = new("--name", "--allow-host", "--allow-port", "--max-sessions", "--allow-private", "--allow-connect");

    public static Labels JsonKeys { get; } = new("name", "allow_hosts", "allow_ports", "max_sessions");

    /// <summary>The console's token form (docs/console.md, "Tokens").</summary>
    public static Labels FormFields { get; } = new("name", "hostnames", "ports", "max live sessions", "private services to publish", "private services to reach");

    /// <summary>Null when a token with this name and grant may be created, else why not.</summary>
    public static string? Problem(string? name, IReadOnlyList<string> hosts, IReadOnlyList<int> ports, int? maxSessions, Labels labels, QuotaConfig? quota = null,
        PrivateGrant? privateServices = null)
    {
        privateServices ??= PrivateGrant.None;
        ArgumentNullException.ThrowIfNull(hosts);
        ArgumentNullException.ThrowIfNull(ports);
        ArgumentNullException.ThrowIfNull(labels);
        if (name is null || name.Length is 0 or > 64 || !name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.'))
        {
            return $"{labels.Name} '{LogText.Bound(name ?? "", 80)}' must be 1..64 letters, digits, '-', '_' or '.'";
        }
        if (hosts.Count == 0 && ports.Count == 0 && privateServices.Publish.Count == 0 && privateServices.Connect.Count == 0)
        {
            return $"grant at least one {labels.Host}, {labels.Port}, {labels.Private} or {labels.Connect} (a token that may do nothing is useless)";
        }
        foreach (var (names, label) in new[] { (privateServices.Publish, labels.Private), (privateServices.Connect, labels.Connect) })
        {
            if (names.FirstOrDefault(n => !ServiceRules.IsName(n)) is { } badName)
            {
                return $"{label}: {ServiceRules.NameProblem(badName, "service")}";
            }
        }
        // No catch-all "*": a token is scoped to domains its owner controls, as edge.yaml's allow_hosts is.
        foreach (var host in hosts)
        {
            if (!HostNames.TryNormalize(host, allowWildcard: true, out _, out var problem))
            {
                return $"{labels.Host}: {problem}";
            }
        }
        if (ports.FirstOrDefault(p => p is < 1 or > 65535) is var badPort && badPort != 0)
        {
            return $"{labels.Port} {badPort} is outside 1..65535";
        }
        if (maxSessions is < 1)
        {
            return $"{labels.MaxSessions} must be at least 1";
        }
        // Quotas (docs/console.md, "Quotas"): below 1 MB a handful of requests' headers would use one up, surely a typo.
        if (quota?.Daily is < QuotaConfig.Minimum || quota?.Monthly is < QuotaConfig.Minimum)
        {
            return "a quota must be at least 1MB";
        }
        return quota is { Daily: { } daily, Monthly: { } monthly } && daily > monthly
            ? "the daily quota is larger than the monthly one; it could never be reached"
            : null;
    }
}
