using System.Text.Json.Serialization;

namespace Warren.Configuration;

/// <summary>
/// What a hot reload did (docs/operations.md, "Reload"): refused whole with the configuration's errors, or applied,
/// with what changed and what only a restart can change. Serialised as the admin API's answer to POST /api/reload.
/// </summary>
public sealed record ReloadResult
{
    /// <summary>False: the new configuration was refused whole and the running one stays.</summary>
    [JsonPropertyName("ok")] public bool Ok { get; init; }

    /// <summary>Why it was refused: the same file/line/field messages as at start.</summary>
    [JsonPropertyName("error")] public string? Error { get; init; }

    /// <summary>What was applied live ("tokens", "certificates", "services: added db", ...).</summary>
    [JsonPropertyName("applied")] public IReadOnlyList<string> Applied { get; init; } = [];

    /// <summary>Keys whose new value waits for a restart (a listener's address, the data directory, ...).</summary>
    [JsonPropertyName("restart_required")] public IReadOnlyList<string> RestartRequired { get; init; } = [];

    public static ReloadResult Refused(string error) => new() { Ok = false, Error = error };

    public override string ToString() => Ok
        ? $"applied: {(Applied.Count == 0 ? "nothing changed" : string.Join("; ", Applied))}"
            + (RestartRequired.Count == 0 ? "" : $"; needs a restart to change: {string.Join(", ", RestartRequired)}")
        : $"refused, the running configuration stays: {Error}";
}
