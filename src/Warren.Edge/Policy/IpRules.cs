using System.Net;
using Warren.Configuration;

namespace Warren.Edge.Policy;

/// <summary>A policy's <c>ip</c> rules, parsed once: deny wins, then a non-empty allow list must contain the client.</summary>
internal sealed class IpRules(IPNetwork[] allow, IPNetwork[] deny)
{
    public static IpRules? Compile(IpRulesConfig? config) =>
        config is null ? null : new(Parse(config.Allow), Parse(config.Deny));

    /// <summary>An unknown address (no peer, e.g. a test server) is refused when there are rules.</summary>
    public bool Allows(IPAddress? client)
    {
        if (client is null)
        {
            return false;
        }
        foreach (var network in deny)
        {
            if (network.Contains(client))
            {
                return false;
            }
        }
        if (allow.Length == 0)
        {
            return true;
        }
        foreach (var network in allow)
        {
            if (network.Contains(client))
            {
                return true;
            }
        }
        return false;
    }

    private static IPNetwork[] Parse(IReadOnlyList<string> entries) =>
        [.. entries.Select(e => ConfigFormats.TryParseNetwork(e, out var network) ? network : throw new FormatException($"ip: '{e}' was not validated"))];
}
