namespace Warren.Configuration;

/// <summary>edge.yaml's <c>access_log</c>: one line per HTTP request and TCP connection (docs/observability.md, "Access log").</summary>
public sealed record AccessLogConfig
{
    public const string Off = "off";
    public const string Stdout = "stdout";
    public const string File = "file";

    /// <summary>YAML key <c>output</c>: <c>stdout</c> (the console log, default), <c>file</c> or <c>off</c>.</summary>
    public string Output { get; init; } = Stdout;

    /// <summary>YAML key <c>path</c>: the file for <c>output: file</c>; null: <c>access.log</c> in the data folder.</summary>
    public string? Path { get; init; }

    /// <summary>YAML key <c>max_size</c>: the file is rotated when a line would take it past this size.</summary>
    public long MaxSize { get; init; } = 100_000_000;

    /// <summary>YAML key <c>max_files</c>: rotated files kept (access.log.1 is the newest); older ones are deleted.</summary>
    public int MaxFiles { get; init; } = 5;

    /// <summary>The file <c>output: file</c> writes: <see cref="Path"/>, or access.log in <paramref name="dataDirectory"/>.</summary>
    public string FilePath(string dataDirectory) => Path ?? System.IO.Path.Combine(dataDirectory, "access.log");
}
