namespace Warren.Configuration.Tests;

/// <summary>access_log in edge.yaml (docs/configuration.md): stdout by default, a file with rotation, or off.</summary>
public sealed class AccessLogConfigTests : IDisposable
{
    private readonly TestFiles _files = new();

    public void Dispose() => _files.Dispose();

    [Fact]
    public void Default_is_the_console_log()
    {
        var config = ConfigLoader.LoadEdge(_files.Write("edge.yaml", "data: ./state\n"), TestFiles.NoEnvironment);

        Assert.Equal("stdout", config.AccessLog.Output);
        Assert.Equal(Path.Combine("state", "access.log"), Path.GetRelativePath(Path.GetDirectoryName(config.SourcePath)!, config.AccessLog.FilePath(config.DataDirectory)));
    }

    [Fact]
    public void File_with_rotation_is_read_relative_to_the_config_file()
    {
        var path = _files.Write("edge.yaml", "access_log:\n  output: file\n  path: logs/access.log\n  max_size: 10MB\n  max_files: 3\n");

        var config = ConfigLoader.LoadEdge(path, TestFiles.NoEnvironment);

        Assert.Equal("file", config.AccessLog.Output);
        Assert.Equal(Path.Combine(Path.GetDirectoryName(path)!, "logs", "access.log"), config.AccessLog.Path);
        Assert.Equal(10_000_000, config.AccessLog.MaxSize);
        Assert.Equal(3, config.AccessLog.MaxFiles);
    }

    [Fact]
    public void Output_can_be_turned_off_from_the_environment()
    {
        var path = _files.Write("edge.yaml", "data: ./state\n");
        var environment = TestFiles.NoEnvironment;
        environment["WARREN_ACCESS_LOG__OUTPUT"] = "off";

        Assert.Equal("off", ConfigLoader.LoadEdge(path, environment).AccessLog.Output);
    }

    [Theory]
    [InlineData("output: syslog", "access_log.output", "'syslog' is not an output; use stdout")]
    [InlineData("output: stdout\n  path: /tmp/a.log", "access_log.path", "only used with output: file")]
    [InlineData("max_size: 100", "access_log.max_size", "must be 1KB to 1TB")]
    [InlineData("max_files: 0", "access_log.max_files", "must be")]
    public void Bad_values_are_errors(string body, string field, string message)
    {
        var path = _files.Write("edge.yaml", $"access_log:\n  {body}\n");

        var errors = TestFiles.EdgeErrors(path);

        Assert.Contains(errors, e => e.Path == field && e.Message.Contains(message, StringComparison.Ordinal));
    }
}
