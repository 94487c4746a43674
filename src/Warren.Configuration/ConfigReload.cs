using System.Diagnostics.CodeAnalysis;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;

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

    /// <summary>The keys whose values differ (made by <see cref="Key"/>), in the order given.</summary>
    public static List<string> Changed(params (string Key, bool Changed)[] keys) =>
        [.. keys.Where(k => k.Changed).Select(k => k.Key)];

    /// <summary>One key for <see cref="Changed"/>: its name and whether its value changed.</summary>
    public static (string Key, bool Changed) Key<T>(string key, T before, T after) => (key, !Same(before, after));

    /// <summary>
    /// Deep equality of configuration values (records holding lists compare their lists by reference), by their JSON.
    /// Source-generated (<see cref="ConfigJsonContext"/>), so that it works in the Native AOT agent as in `warren`;
    /// <typeparamref name="T"/> is the compared setting's declared type, which the context must list.
    /// </summary>
    public static bool Same<T>(T a, T b) => JsonSerializer.Serialize(a, TypeInfo<T>()) == JsonSerializer.Serialize(b, TypeInfo<T>());

    private static JsonTypeInfo<T> TypeInfo<T>() => ConfigJsonContext.Default.GetTypeInfo(typeof(T)) as JsonTypeInfo<T>
        ?? throw new InvalidOperationException($"{typeof(T)} is not listed in ConfigJsonContext, so a reload cannot compare it");
}

/// <summary>The settings a reload compares (<see cref="ConfigReload.Same"/>); what they hold is generated with them.</summary>
[JsonSerializable(typeof(string))]
[JsonSerializable(typeof(bool))]
[JsonSerializable(typeof(int))]
[JsonSerializable(typeof(SessionConfig))]
[JsonSerializable(typeof(ServiceConfig))]
[JsonSerializable(typeof(AgentLinkConfig))]
[JsonSerializable(typeof(AcmeConfig))]
[JsonSerializable(typeof(ShieldConfig))]
[JsonSerializable(typeof(AccessLogConfig))]
[JsonSerializable(typeof(IReadOnlyList<string>))]
[JsonSerializable(typeof(IReadOnlyList<EdgeTokenConfig>))]
[JsonSerializable(typeof(IReadOnlyList<EdgePolicyConfig>))]
internal sealed partial class ConfigJsonContext : JsonSerializerContext;
