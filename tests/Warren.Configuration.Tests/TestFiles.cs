namespace Warren.Configuration.Tests;

/// <summary>A temporary folder of real config files, deleted after the test.</summary>
internal sealed class TestFiles : IDisposable
{
    public TestFiles()
    {
        Directory = Path.Combine(Path.GetTempPath(), "warren-config-tests", Guid.NewGuid().ToString("N"));
        System.IO.Directory.CreateDirectory(Directory);
    }

    public string Directory { get; }

    public static Dictionary<string, string?> NoEnvironment => new(StringComparer.Ordinal);

    public string Write(string name, string content)
    {
        var path = Path.Combine(Directory, name);
        File.WriteAllText(path, content.ReplaceLineEndings("\n"));
        return path;
    }

    public void Dispose()
    {
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    /// <summary>Loads and expects failure, returning every error.</summary>
    public static IReadOnlyList<ConfigError> AgentErrors(string path, IReadOnlyDictionary<string, string?>? environment = null, IReadOnlyDictionary<string, string>? overrides = null) =>
        Assert.Throws<ConfigException>(() => ConfigLoader.LoadAgent(path, environment ?? NoEnvironment, overrides)).Errors;

    public static IReadOnlyList<ConfigError> EdgeErrors(string path, IReadOnlyDictionary<string, string?>? environment = null, IReadOnlyDictionary<string, string>? overrides = null) =>
        Assert.Throws<ConfigException>(() => ConfigLoader.LoadEdge(path, environment ?? NoEnvironment, overrides)).Errors;

    /// <summary>Asserts one error names the file, the line and the field, and its text contains <paramref name="contains"/>.</summary>
    public static ConfigError AssertError(IReadOnlyList<ConfigError> errors, string file, int line, string path, string contains)
    {
        var match = errors.FirstOrDefault(e => e.Path == path);
        Assert.True(match is not null, $"no error at {path}; got:\n{string.Join("\n", errors)}");
        Assert.Equal(file, match.File);
        Assert.Equal(line, match.Line);
        Assert.Contains(contains, match.Message, StringComparison.Ordinal);
        var text = match.ToString();
        Assert.StartsWith($"{file}:{line}: {path}: ", text, StringComparison.Ordinal);
        return match;
    }
}
