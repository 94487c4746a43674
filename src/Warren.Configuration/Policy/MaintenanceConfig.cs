namespace Warren.Configuration;

/// <summary>YAML key <c>maintenance</c>: when <see cref="Enabled"/>, every request gets 503 with <see cref="Page"/> (YAML: <c>page_file</c>) and Retry-After.</summary>
public sealed record MaintenanceConfig
{
    public bool Enabled { get; init; }

    /// <summary>The HTML shown (YAML <c>page_file</c> is read into it); null: a short built-in page.</summary>
    public string? Page { get; init; }
}
