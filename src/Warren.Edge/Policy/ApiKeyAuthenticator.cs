using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http;
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
        if (key is null && _query is not null && request.Query[_query] is { Count: 1 } query)
        {
            key = query[0];
        }
        if (string.IsNullOrEmpty(key) || key.Length > MaxKeyLength)
        {
            return false;
        }
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes(key));
        var match = false;
        foreach (var expected in _hashes)
        {
            match |= CryptographicOperations.FixedTimeEquals(hash, expected);
        }
        return match;
    }
}
