using System.Diagnostics;
using Xunit.Abstractions;

namespace Warren.OperationsTests;

/// <summary>
/// What is shipped (docs/operations.md, "Installing"): the systemd units are valid units, and the .NET tool package
/// installs from a local feed and runs.
/// </summary>
public sealed class PackagingTests(ITestOutputHelper output) : LoggedTest(output)
{
    [Fact]
    public async Task The_systemd_units_pass_systemd_analyze_verify_with_no_complaint()
    {
        var root = RepositoryRoot();
        var units = Directory.GetFiles(Path.Combine(root, "deploy", "systemd"), "*.service");
        Assert.Equal(["warren-agent.service", "warren-edge.service"], units.Select(Path.GetFileName).Order(StringComparer.Ordinal));
        // verify checks that ExecStart's binary exists and is executable: point it at the warren built next to the tests.
        var warren = Path.Combine(AppContext.BaseDirectory, "warren");
        Assert.True(File.Exists(warren), $"{warren} (the CLI's apphost) is next to the tests");
        var folder = TempDirectory();
        foreach (var unit in units)
        {
            var text = await File.ReadAllTextAsync(unit);
            Assert.Contains("ExecStart=/usr/local/bin/warren ", text, StringComparison.Ordinal);
            Assert.Contains("ExecReload=/bin/kill -HUP $MAINPID", text, StringComparison.Ordinal);
            Assert.Contains("Type=notify", text, StringComparison.Ordinal);
            await File.WriteAllTextAsync(Path.Combine(folder, Path.GetFileName(unit)), text.Replace("/usr/local/bin/warren", warren, StringComparison.Ordinal));
        }

        var (exitCode, stdout, stderr) = await RunAsync("systemd-analyze", ["verify", .. units.Select(u => Path.Combine(folder, Path.GetFileName(u)))]);

        Assert.Equal(0, exitCode);
        // Unknown keys and bad values are only warnings (exit 0): any line about our units fails the test.
        Assert.DoesNotContain("warren-", stderr + stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_dotnet_tool_package_installs_from_a_local_feed_and_runs()
    {
        var root = RepositoryRoot();
        var feed = TempDirectory();
        var tools = TempDirectory();
        var dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host) ? host : "dotnet";
        // The tests run on the Release build of the CLI: pack that, as a tool package (PackAsTool in Warren.Cli.csproj).
        var pack = await RunAsync(dotnet, ["pack", Path.Combine(root, "src", "Warren.Cli", "Warren.Cli.csproj"), "-c", "Release", "--no-build",
            "-o", feed, "-p:PackageVersion=0.0.0-tooltest", "-nologo"]);
        Assert.True(pack.ExitCode == 0, $"dotnet pack: {pack.StandardOutput}{pack.StandardError}");
        Assert.True(File.Exists(Path.Combine(feed, "warren.0.0.0-tooltest.nupkg")), "the package is warren.VERSION.nupkg");
        // Only the local folder as a source: nothing is fetched from anywhere else.
        var config = Path.Combine(feed, "nuget.config");
        await File.WriteAllTextAsync(config, $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <packageSources>
                <clear />
                <add key="local" value="{feed}" />
              </packageSources>
            </configuration>
            """);

        var install = await RunAsync(dotnet, ["tool", "install", "warren", "--tool-path", tools, "--configfile", config, "--version", "0.0.0-tooltest"]);
        Assert.True(install.ExitCode == 0, $"dotnet tool install: {install.StandardOutput}{install.StandardError}");

        var environment = new Dictionary<string, string> { ["DOTNET_ROOT"] = Path.GetDirectoryName(Path.GetFullPath(dotnet == "dotnet" ? "/usr/share/dotnet/dotnet" : dotnet))! };
        var version = await RunAsync(Path.Combine(tools, "warren"), ["--version"], environment);
        Assert.Equal(0, version.ExitCode);
        // The package carries the build the tests run (its assembly version, whatever the package's own version).
        var built = await WarrenProcess.RunAsync(["--version"], Log);
        Assert.Equal(built.StandardOutput.Trim(), version.StandardOutput.Trim());
        Assert.NotEmpty(version.StandardOutput.Trim());
        var data = TempDirectory();
        var created = await RunAsync(Path.Combine(tools, "warren"), ["token", "create", "--data", data, "--name", "ci", "--allow-host", "ci.example.com"], environment);
        Assert.True(created.ExitCode == 0, $"warren token create: {created.StandardOutput}{created.StandardError}");
        Assert.Contains("wrn_", created.StandardOutput, StringComparison.Ordinal);
    }

    private async Task<(int ExitCode, string StandardOutput, string StandardError)> RunAsync(string file, IEnumerable<string> arguments, IReadOnlyDictionary<string, string>? environment = null)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[key] = value;
        }
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromMinutes(3));
        Log.Note($"{Path.GetFileName(file)} {string.Join(' ', start.ArgumentList)}: exit {process.ExitCode}; {await stdout}{await stderr}");
        return (process.ExitCode, await stdout, await stderr);
    }

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Warren.slnx")))
            {
                return dir.FullName;
            }
        }
        throw new DirectoryNotFoundException($"no Warren.slnx above {AppContext.BaseDirectory}");
    }
}
