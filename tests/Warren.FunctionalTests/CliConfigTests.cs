using Xunit.Abstractions;

namespace Warren.FunctionalTests;

/// <summary>The real CLI refuses a bad configuration with a message naming the file and field, and a non-zero exit code.</summary>
public sealed class CliConfigTests : LoggedTest
{
    /// <summary>A valid agent.yaml up to its one service's target (line 7 comes next).</summary>
    private const string AgentWithOneService = """
        edge: 127.0.0.1:7443
        token: not-a-real-token
        insecure: true
        services:
          - name: app
            hostnames: [app.test]

        """;

    private readonly string _directory;

    public CliConfigTests(ITestOutputHelper output)
        : base(output) => _directory = TempDirectory("warren-ft-cli-");

    [Fact]
    public async Task Agent_with_a_misspelled_key_exits_non_zero_naming_file_line_and_field()
    {
        var path = Write("misspelled-agent.yaml", AgentWithOneService + """
                targte: http://127.0.0.1:8080
            """);

        var (exitCode, stderr) = await RunAsync("agent", "--config", path);

        Assert.NotEqual(0, exitCode);
        Assert.Contains("misspelled-agent.yaml:7", stderr, StringComparison.Ordinal);
        Assert.Contains("services[0].targte", stderr, StringComparison.Ordinal);
        Assert.Contains("did you mean 'target'", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Agent_service_without_target_exits_non_zero_naming_file_and_field()
    {
        var path = Write("no-target-agent.yaml", AgentWithOneService);

        var (exitCode, stderr) = await RunAsync("agent", "--config", path);

        Assert.NotEqual(0, exitCode);
        Assert.Contains("no-target-agent.yaml", stderr, StringComparison.Ordinal);
        Assert.Contains("services[0].target", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Edge_without_tokens_exits_non_zero_naming_the_tokens_field()
    {
        var path = Write("tokenless-edge.yaml", $"""
            listen:
              http: 127.0.0.1:0
              agents: 127.0.0.1:0
              admin: 127.0.0.1:0
            data: {Path.Combine(_directory, "data")}
            """);

        var (exitCode, stderr) = await RunAsync("edge", "--config", path);

        Assert.NotEqual(0, exitCode);
        // Tokens may also come from the token store in the data directory, so this is the edge's start-up check
        // (not a line of the file): it names the missing field and how to provide it.
        Assert.Contains("no agent tokens", stderr, StringComparison.Ordinal);
        Assert.Contains("tokens:", stderr, StringComparison.Ordinal);
    }

    private string Write(string name, string yaml)
    {
        var path = Path.Combine(_directory, name);
        File.WriteAllText(path, yaml + "\n");
        return path;
    }

    private async Task<(int ExitCode, string Stderr)> RunAsync(params string[] arguments)
    {
        await using var process = WarrenProcess.Start(Log, "warren", arguments);
        var exitCode = await process.WaitForExitAsync(TimeSpan.FromSeconds(30));
        Log.Note($"exit code {exitCode}");
        return (exitCode, process.StandardError);
    }
}
