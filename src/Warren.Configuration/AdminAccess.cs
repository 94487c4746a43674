using System.Net;
using System.Security.Cryptography;
using System.Text;

namespace Warren.Configuration;

/// <summary>
/// Who may use an admin listener (the edge's <c>listen.admin</c>, the agent's <c>admin</c>): one rule for both.
/// Loopback binds may go without a token; any other bind needs <c>admin_token</c>. With a token, every endpoint
/// except the probes needs <c>Authorization: Bearer TOKEN</c> (docs/security.md, "The admin listener").
/// </summary>
public static class AdminAccess
{
    public const int MinimumTokenLength = 16;
    public const int MaximumTokenLength = 512;

    /// <summary>
    /// /healthz and /readyz answer without a token: load balancers and orchestrators probe them without credentials,
    /// and they reveal only "ok"/"ready".
    /// </summary>
    public static bool IsProbe(string? path) => path is "/healthz" or "/readyz";

    /// <summary>Whether a request for <paramref name="path"/> with this Authorization header may be served; no token: everything may.</summary>
    public static bool Allows(string? path, string? authorization, string? token) =>
        token is null || IsProbe(path) || IsAuthorized(authorization, token);

    /// <summary>True when the listen address ("127.0.0.1:9090", "[::1]:9090", "localhost:9090") accepts local connections only.</summary>
    public static bool IsLoopback(string address)
    {
        if (!ConfigFormats.TryParseHostPort(address, out var host, out _))
        {
            return false;
        }
        return string.Equals(host, "localhost", StringComparison.OrdinalIgnoreCase)
            || (IPAddress.TryParse(host, out var ip) && IPAddress.IsLoopback(ip));
    }

    /// <summary>
    /// Checks an Authorization header against the token in constant time: both are hashed first, so neither their
    /// content nor their length shows in the timing.
    /// </summary>
    public static bool IsAuthorized(string? authorization, string token)
    {
        ArgumentNullException.ThrowIfNull(token);
        const string scheme = "Bearer ";
        if (authorization is null || authorization.Length > scheme.Length + MaximumTokenLength
            || !authorization.StartsWith(scheme, StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }
        var presented = SHA256.HashData(Encoding.UTF8.GetBytes(authorization[scheme.Length..].Trim()));
        var expected = SHA256.HashData(Encoding.UTF8.GetBytes(token));
        return CryptographicOperations.FixedTimeEquals(presented, expected);
    }

    /// <summary>Why <paramref name="token"/> cannot be an admin token, or null when it can. Never repeats the value.</summary>
    internal static string? Problem(string token)
    {
        if (token.Length is < MinimumTokenLength or > MaximumTokenLength)
        {
            return $"must be {MinimumTokenLength} to {MaximumTokenLength} characters long (it is {token.Length}; the value is not shown); e.g. generate one with 'openssl rand -hex 32'";
        }
        // It travels in an HTTP header: visible ASCII only, no spaces.
        return token.All(c => c is > ' ' and <= '~') ? null : "may hold only visible ASCII characters, no spaces (the value is not shown)";
    }
}
