using System.Text.RegularExpressions;

namespace Warren.Configuration;

/// <summary>
/// The rules a service's fields follow, shared by agent.yaml validation and the edge's check of an agent's
/// registration (which must not trust the agent to have validated anything): one definition, one message each.
/// </summary>
public static partial class ServiceRules
{
    public const int MaxConcurrency = 100_000;

    /// <summary>Hostnames of one service: far more than any real service has, and few enough that each claim is cheap to check.</summary>
    public const int MaxHostnamesPerService = 100;

    /// <summary>A path prefix is matched against every request path of its hostnames; longer than this is no real prefix.</summary>
    public const int MaxPathPrefixLength = 1024;

    /// <summary>response_timeout's range: at least 1 ms, at most a day (the forwarder's activity timeout; TimeSpan holds no more than ~29,000 years anyway).</summary>
    public static readonly TimeSpan MinResponseTimeout = TimeSpan.FromMilliseconds(1);

    /// <inheritdoc cref="MinResponseTimeout"/>
    public static readonly TimeSpan MaxResponseTimeout = TimeSpan.FromHours(24);

    /// <summary>1 to 63 characters of a-z, 0-9, '-', '_' and '.', starting with a letter or digit (fits the OPEN metadata, docs/protocol.md §10.1).</summary>
    public static bool IsName(string? name) => name is not null && NamePattern().IsMatch(name);

    public static string NameProblem(string? name, string what) =>
        $"'{LogText.Bound(name, 80)}' is not a valid {what} name; use 1 to 63 characters of a-z, 0-9, '-', '_' and '.', starting with a letter or digit";

    /// <summary>Null when <paramref name="prefix"/> is a usable path prefix, else why not.</summary>
    public static string? PathPrefixProblem(string prefix)
    {
        ArgumentNullException.ThrowIfNull(prefix);
        return !prefix.StartsWith('/') || prefix.Length > MaxPathPrefixLength || prefix.Any(c => c is '?' or '#' || char.IsWhiteSpace(c) || char.IsControl(c))
            ? $"'{LogText.Bound(prefix, 80)}' must start with '/', be at most {MaxPathPrefixLength} characters and hold no spaces, control characters, '?' or '#', e.g. /api"
            : null;
    }

    // \z, not $: $ also matches before a final newline, and "web\n" is no name.
    [GeneratedRegex(@"^[a-z0-9][a-z0-9._-]{0,62}\z")]
    private static partial Regex NamePattern();
}
