using Warren.Configuration;
using Warren.Protocol.Tunnel;

namespace Warren.Edge.Tokens;

/// <summary>A token's identity and grants, once its secret matched.</summary>
internal sealed record TokenGrant(string Name, IReadOnlyList<string> AllowHosts, IReadOnlyList<int> AllowPorts)
{
    /// <summary>Live sessions this token may hold at once; null = no limit.</summary>
    public int? MaxSessions { get; init; }

    /// <summary>Private services this token may publish (<c>allow_private</c>; docs/operations.md, "Private services").</summary>
    public IReadOnlyList<string> AllowPrivate { get; init; } = [];

    /// <summary>Private services this token may reach with <c>warren connect</c> (<c>allow_connect</c>).</summary>
    public IReadOnlyList<string> AllowConnect { get; init; } = [];

    /// <summary>Null when the token may reach private service <paramref name="service"/> with <c>warren connect</c>, else why not.</summary>
    public string? CheckConnect(string service) =>
        AllowConnect.Contains(service, StringComparer.Ordinal) ? null : $"token '{Name}' is not granted private service '{service}' (allow_connect)";

    /// <summary>edge.yaml <c>require_policies</c>: edge policies each of this token's services must name in <c>policy.use</c>.</summary>
    public IReadOnlyList<string> RequirePolicies { get; init; } = [];

    /// <summary>Whether <paramref name="other"/> grants exactly what this does (hot reload: unchanged tokens keep their sessions).</summary>
    public bool SameAs(TokenGrant other) =>
        Name == other.Name && MaxSessions == other.MaxSessions && AllowHosts.SequenceEqual(other.AllowHosts)
        && AllowPorts.SequenceEqual(other.AllowPorts) && RequirePolicies.SequenceEqual(other.RequirePolicies)
        && AllowPrivate.SequenceEqual(other.AllowPrivate) && AllowConnect.SequenceEqual(other.AllowConnect);

    /// <summary>Bytes per day or month this token's services may move (docs/console.md, "Quotas"); null: unlimited.</summary>
    public Warren.Configuration.QuotaConfig? Quota { get; init; }

    /// <summary>Null when the token may publish <paramref name="service"/>, else why not.</summary>
    public string? Check(ServiceRegistration service)
    {
        if (service.Private == true && !AllowPrivate.Contains(service.Name, StringComparer.Ordinal))
        {
            return $"private service {service.Name} is not granted to token '{Name}' (allow_private)";
        }
        foreach (var host in service.Hostnames)
        {
            if (!AllowHosts.Any(pattern => HostMatches(pattern, host)))
            {
                return $"hostname {host} is not granted to token '{Name}'";
            }
        }
        if (service.Port is { } port && !AllowPorts.Contains(port))
        {
            return $"port {port} is not granted to token '{Name}'";
        }
        return null;
    }

    /// <summary>
    /// "*.example.com" grants its subdomains and wildcards under it; anything else is an exact name. Compared in normal
    /// form (HostNames: ASCII letters lowercased, nothing else mapped), so no case mapping can make two names meet.
    /// </summary>
    internal static bool HostMatches(string pattern, string host)
    {
        pattern = HostNames.ToLowerAscii(pattern);
        host = HostNames.ToLowerAscii(host);
        if (pattern.StartsWith("*.", StringComparison.Ordinal))
        {
            var suffix = pattern.AsSpan(1);
            return host.AsSpan().EndsWith(suffix, StringComparison.Ordinal) && host.Length > suffix.Length;
        }
        return string.Equals(pattern, host, StringComparison.Ordinal);
    }
}
