namespace Warren.Configuration;

/// <summary>One thing wrong with a configuration, located as precisely as is known.</summary>
public sealed record ConfigError(string? File, int? Line, string Path, string Message)
{
    /// <summary>"agent.yaml:12: services[2].target: message"; parts that are unknown are left out.</summary>
    public override string ToString()
    {
        var location = File is null ? null : Line is null ? File : $"{File}:{Line}";
        var where = string.IsNullOrEmpty(Path) ? null : Path;
        return (location, where) switch
        {
            (null, null) => Message,
            (null, _) => $"{where}: {Message}",
            (_, null) => $"{location}: {Message}",
            _ => $"{location}: {where}: {Message}",
        };
    }
}

/// <summary>Every error found in a configuration; the message lists them one per line.</summary>
public sealed class ConfigException : Exception
{
    public ConfigException()
        : this([])
    {
    }

    public ConfigException(string message)
        : this([new ConfigError(null, null, "", message)])
    {
    }

    public ConfigException(string message, Exception innerException)
        : base(message, innerException)
    {
        Errors = [new ConfigError(null, null, "", message)];
    }

    public ConfigException(IReadOnlyList<ConfigError> errors)
        : base(Format(errors))
    {
        Errors = errors;
    }

    public IReadOnlyList<ConfigError> Errors { get; }

    private static string Format(IReadOnlyList<ConfigError> errors) =>
        errors.Count == 0 ? "invalid configuration" : string.Join(Environment.NewLine, errors);
}
