using System.Diagnostics.CodeAnalysis;
using System.Text.Json;

namespace Warren.Configuration;

/// <summary>
/// What the edge's and the agent's hot reloads share (docs/operations.md, "Reload"): reading the file again, refused
/// whole with the same file/line/field errors as at start, and telling which keys changed.
/// </summary>
public static class ConfigReload
{
    /// <summary>
    /// Reads and validates the configuration again through <paramref name="source"/>; false with the refusal (the
    /// running configuration stays) when there is no file to read or it is invalid.
    /// </summary>
    public static bool TryRead<T>(Func<T>? source, string side, [NotNullWhen(true)] out T? config, [NotNullWhen(false)] out ReloadResult? refused)
        where T : class
    {
        config = null;
        refused = null;
        if (source is null)
        {
            refused = ReloadResult.Refused($"this {side} was started without a configuration file to read again");
            return false;
        }
        try
        {
            config = source();
            return true;
        }
        catch (ConfigException ex)
        {
            refused = ReloadResult.Refused(ex.Message);
            return false;
        }
    }

    /// <summary>The keys whose two values differ, in the order given.</summary>
    public static List<string> Changed(params (string Key, object? Before, object? After)[] keys) =>
        [.. keys.Where(k => !Same(k.Before, k.After)).Select(k => k.Key)];

    /// <summary>Deep equality of configuration values (records holding lists compare their lists by reference).</summary>
    public static bool Same(object? a, object? b) => JsonSerializer.Serialize(a) == JsonSerializer.Serialize(b);
}
