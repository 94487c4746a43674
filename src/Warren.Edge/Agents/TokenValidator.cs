using System.Security.Cryptography;
using System.Text;
using Warren.Configuration;
using Warren.Protocol.Tunnel;

namespace Warren.Edge.Agents;

/// <summary>A token's identity and grants, once its secret matched.</summary>
internal sealed record TokenGrant(string Name, IReadOnlyList<string> AllowHosts, IReadOnlyList<int> AllowPorts)
{
    /// <summary>Null when the token may publish <paramref name="service"/>, else why not.</summary>
    public string? Check(ServiceRegistration service)
    {
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

    /// <summary>"*" grants everything; "*.example.com" grants its subdomains and wildcards under it; else exact.</summary>
    internal static bool HostMatches(string pattern, string host)
    {
        if (pattern == "*")
        {
            return true;
        }
        if (pattern.StartsWith("*.", StringComparison.Ordinal))
        {
            var suffix = pattern[1..];
            return host.EndsWith(suffix, StringComparison.OrdinalIgnoreCase) && host.Length > suffix.Length;
        }
        return string.Equals(pattern, host, StringComparison.OrdinalIgnoreCase);
    }
}

/// <summary>
/// Checks agent tokens: only SHA-256 hashes are held, the presented secret's length is capped before hashing, and
/// hashes are compared in constant time against every configured token (no early exit that leaks which one).
/// </summary>
internal sealed class TokenValidator
{
    public const int MaxTokenLength = 512;
    private readonly (byte[] Hash, TokenGrant Grant)[] _tokens;

    public TokenValidator(IEnumerable<EdgeTokenConfig> tokens) =>
        _tokens = [.. tokens.Select(t => (
            t.TokenSha256 is { } hex ? Convert.FromHexString(hex) : SHA256.HashData(Encoding.UTF8.GetBytes(t.Token!)),
            new TokenGrant(t.Name, t.AllowHosts, t.AllowPorts)))];

    public int Count => _tokens.Length;

    public TokenGrant? Validate(string? presented)
    {
        if (string.IsNullOrEmpty(presented) || presented.Length > MaxTokenLength)
        {
            return null;
        }
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes(presented));
        TokenGrant? match = null;
        foreach (var (expected, grant) in _tokens)
        {
            if (CryptographicOperations.FixedTimeEquals(hash, expected))
            {
                match = grant;
            }
        }
        return match;
    }
}
