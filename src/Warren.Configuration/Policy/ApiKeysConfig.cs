using System.Text;

namespace Warren.Configuration;

/// <summary>
/// YAML key <c>api_keys</c>: static keys presented as <c>Authorization: Bearer KEY</c>, in the header named by
/// <see cref="Header"/>, or in the query parameter named by <see cref="Query"/>. Only SHA-256 hashes are kept: YAML
/// <c>keys</c> (e.g. <c>${API_KEY}</c>) and <c>keys_file</c> are hashed when the configuration is loaded.
/// </summary>
public sealed record ApiKeysConfig
{
    /// <summary>YAML key <c>header</c>: a header carrying the key as it is; null: <c>Authorization: Bearer</c>.</summary>
    public string? Header { get; init; }

    /// <summary>YAML key <c>query</c>: a query parameter carrying the key; null: none.</summary>
    public string? Query { get; init; }

    /// <summary>YAML key <c>keys_sha256</c>: lowercase hex SHA-256 of each accepted key.</summary>
    public IReadOnlyList<string> KeysSha256 { get; init; } = [];

    private bool PrintMembers(StringBuilder builder)
    {
        builder.Append("Header = ").Append(Header).Append(", Query = ").Append(Query).Append(", Keys = ").Append(KeysSha256.Count).Append(" (not shown)");
        return true;
    }
}
