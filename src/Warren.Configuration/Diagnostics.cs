namespace Warren.Configuration;

/// <summary>
/// Errors found so far, and where each setting came from (file and line, or the override that set it),
/// so that validation, which sees only records, can still point at the line to fix.
/// </summary>
internal sealed class Diagnostics(string? file)
{
    private readonly Dictionary<string, (string? File, int? Line)> _locations = new(StringComparer.Ordinal);
    private readonly HashSet<string> _failed = new(StringComparer.Ordinal);

    public List<ConfigError> Errors { get; } = [];

    public string? File { get; } = file;

    public void Locate(string path, string? file, int? line) => _locations[path] = (file, line);

    /// <summary>An error at a known place. Later errors on the same path (or below it) are left out: one cause, one message.</summary>
    public void Fail(string path, string? file, int? line, string message)
    {
        _failed.Add(path);
        Errors.Add(new ConfigError(file, line, path, message));
    }

    /// <summary>An error found by validation: placed at the setting's line, or its nearest enclosing one.</summary>
    public void Report(string path, string message)
    {
        if (HasFailed(path))
        {
            return;
        }

        var (file, line) = Find(path);
        Fail(path, file, line, message);
    }

    public void ThrowIfAny()
    {
        if (Errors.Count > 0)
        {
            throw new ConfigException([.. Errors]);
        }
    }

    public static string Child(string parent, string key) => parent.Length == 0 ? key : $"{parent}.{key}";

    public static string Item(string parent, int index) => $"{parent}[{index}]";

    private (string? File, int? Line) Find(string path)
    {
        for (var current = path; current.Length > 0; current = Parent(current))
        {
            if (_locations.TryGetValue(current, out var location))
            {
                return location;
            }
        }

        return (File, null);
    }

    private bool HasFailed(string path)
    {
        for (var current = path; current.Length > 0; current = Parent(current))
        {
            if (_failed.Contains(current))
            {
                return true;
            }
        }

        return false;
    }

    private static string Parent(string path)
    {
        var cut = path.LastIndexOfAny(['.', '[']);
        return cut < 0 ? "" : path[..cut];
    }
}
