using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Primitives;
using Warren.Configuration;

namespace Warren.Edge.Policy;

/// <summary>
/// <c>basic_auth</c>: htpasswd bcrypt hashes checked with BCrypt.Net-Next. bcrypt costs tens of milliseconds by design,
/// and a browser sends the same Authorization header on every request, so a header that verified is remembered for
/// <see cref="CacheLifetime"/> as an HMAC under a per-process key (never the password). Unknown users are checked
/// against a dummy hash, so the time taken does not say which names exist.
/// </summary>
internal sealed class BasicAuthenticator
{
    public static readonly TimeSpan CacheLifetime = TimeSpan.FromMinutes(5);
    private const int MaxCached = 4096;
    private static readonly byte[] CacheKey = RandomNumberGenerator.GetBytes(32);
    private static readonly string DummyHash = BCrypt.Net.BCrypt.HashPassword("warren-dummy-password", 10);

    private readonly Dictionary<string, string> _users;
    private readonly ConcurrentDictionary<string, long> _verified = new(StringComparer.Ordinal);
    private readonly TimeProvider _time;

    private BasicAuthenticator(BasicAuthConfig config, TimeProvider time)
    {
        _time = time;
        _users = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var line in config.Users)
        {
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            _users[line[..colon]] = line[(colon + 1)..];
        }
        Challenge = $"Basic realm=\"{config.Realm}\", charset=\"UTF-8\"";
    }

    /// <summary>The WWW-Authenticate value for a 401.</summary>
    public string Challenge { get; }

    public static BasicAuthenticator? Compile(BasicAuthConfig? config, TimeProvider time) => config is null ? null : new(config, time);

    /// <summary>The user name when the request's Basic credentials are valid; else null.</summary>
    public string? Authenticate(StringValues authorization)
    {
        if (authorization.Count != 1 || authorization[0] is not { } header || !header.StartsWith("Basic ", StringComparison.OrdinalIgnoreCase) || header.Length > 4096)
        {
            return null;
        }
        var now = _time.GetTimestamp();
        var cacheKey = Convert.ToBase64String(HMACSHA256.HashData(CacheKey, Encoding.UTF8.GetBytes(header)));
        string user, password;
        try
        {
            var decoded = Encoding.UTF8.GetString(Convert.FromBase64String(header.AsSpan(6).Trim().ToString()));
            var colon = decoded.IndexOf(':', StringComparison.Ordinal);
            if (colon <= 0)
            {
                return null;
            }
            user = decoded[..colon];
            password = decoded[(colon + 1)..];
        }
        catch (FormatException)
        {
            return null;
        }
        if (_verified.TryGetValue(cacheKey, out var expires) && _time.GetElapsedTime(expires, now) < TimeSpan.Zero)
        {
            return user;
        }
        var known = _users.TryGetValue(user, out var hash);
        bool ok;
        try
        {
            ok = BCrypt.Net.BCrypt.Verify(password, known ? hash : DummyHash) && known;
        }
        catch (BCrypt.Net.SaltParseException)
        {
            ok = false;
        }
        if (ok)
        {
            if (_verified.Count >= MaxCached)
            {
                _verified.Clear(); // bounded: the next requests pay one bcrypt each again
            }
            _verified[cacheKey] = now + (long)(CacheLifetime.TotalSeconds * _time.TimestampFrequency);
        }
        return ok ? user : null;
    }
}
