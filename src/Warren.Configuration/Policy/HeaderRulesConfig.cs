namespace Warren.Configuration;

/// <summary>YAML keys <c>request_headers</c> and <c>response_headers</c>: <c>remove</c> runs first, then <c>set</c> replaces or adds.</summary>
public sealed record HeaderRulesConfig
{
    public IReadOnlyDictionary<string, string> Set { get; init; } = new Dictionary<string, string>();

    public IReadOnlyList<string> Remove { get; init; } = [];
}
