using System.Net.Http;
using Microsoft.AspNetCore.Http;
using Warren.Configuration;

namespace Warren.Edge.Policy;

/// <summary><c>request_headers</c> / <c>response_headers</c>, compiled: removals, then replacements.</summary>
internal sealed class HeaderRules(string[] remove, (string Name, string Value)[] set)
{
    public static HeaderRules? Compile(HeaderRulesConfig? config) =>
        config is null ? null : new([.. config.Remove], [.. config.Set.Select(p => (p.Key, p.Value))]);

    public void Apply(HttpRequestMessage request)
    {
        foreach (var name in remove)
        {
            request.Headers.Remove(name);
            request.Content?.Headers.Remove(name);
        }
        foreach (var (name, value) in set)
        {
            request.Headers.Remove(name);
            request.Content?.Headers.Remove(name);
            if (!request.Headers.TryAddWithoutValidation(name, value))
            {
                request.Content?.Headers.TryAddWithoutValidation(name, value); // Content-Type and the like
            }
        }
    }

    public void Apply(IHeaderDictionary headers)
    {
        foreach (var name in remove)
        {
            headers.Remove(name);
        }
        foreach (var (name, value) in set)
        {
            headers[name] = value;
        }
    }
}
