using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.WebUtilities;
using Warren.Configuration;

namespace Warren.Edge.Policy;

/// <summary>
/// <c>api_keys</c>: the presented key's SHA-256 compared in constant time with every accepted hash (no early exit that
/// would tell how far a guess got). The key comes from <c>Authorization: Bearer</c>, the configured header, or the
/// configured query parameter.
/// </summary>
internal sealed class ApiKeyAuthenticator
{
    private const int MaxKeyLength = 1024;
    private readonly byte[][] _hashes;
    private readonly string? _header;
    private readonly string? _query;

    private ApiKeyAuthenticator(ApiKeysConfig config)
    {
        _hashes = [.. config.KeysSha256.Select(Convert.FromHexString)];
        _header = config.Header;
        _query = config.Query;
    }

    public static ApiKeyAuthenticator? Compile(ApiKeysConfig? config) => config is null ? null : new(config);

    public bool Authenticate(HttpRequest request)
    {
        string? key = null;
        if (_header is not null)
        {
            key = request.Headers[_header] is { Count: 1 } value ? value[0] : null;
        }
        else if (request.Headers.Authorization is { Count: 1 } authorization && authorization[0] is { } bearer
            && bearer.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            key = bearer[7..].Trim();
        }
        if (key is null && _query is not null)
        {
            key = QueryValue(request.QueryString.Value, _query);
        }
        if (string.IsNullOrEmpty(key) || key.Length > MaxKeyLength)
        {
            return false;
        }
        // On every request of a protected service: hash without allocating (a key is at most 1,024 chars, 3 KiB of UTF-8).
        Span<byte> utf8 = stackalloc byte[Encoding.UTF8.GetMaxByteCount(key.Length)];
        Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
        SHA256.HashData(utf8[..Encoding.UTF8.GetBytes(key, utf8)], hash);
        var match = false;
        foreach (var expected in _hashes)
        {
            match |= CryptographicOperations.FixedTimeEquals(hash, expected);
        }
        return match;
    }

    /// <summary>
    /// The parameter's value when it occurs exactly once, else null. Walks the query string in place
    /// (<see cref="QueryStringEnumerable"/>) instead of building <c>request.Query</c>'s dictionary of every parameter.
    /// </summary>
    private static string? QueryValue(string? queryString, string name)
    {
        string? value = null;
        foreach (var pair in new QueryStringEnumerable(queryString))
        {
            if (pair.DecodeName().Span.SequenceEqual(name))
            {
                if (value is not null)
                {
                    return null; // twice: ambiguous, as request.Query[name] with two values was
                }
                value = pair.DecodeValue().ToString();
            }
        }
        return value;
    }
}
