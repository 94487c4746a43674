using System.Diagnostics;
using Xunit.Abstractions;

namespace Warren.OperationsTests;

/// <summary>The shipped systemd units (deploy/systemd, docs/operations.md "Installing with systemd") are valid units.</summary>
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

        var start = new ProcessStartInfo("systemd-analyze") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add("verify");
        foreach (var unit in units)
        {
            start.ArgumentList.Add(Path.Combine(folder, Path.GetFileName(unit)));
        }
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
        Log.Note($"systemd-analyze verify: exit {process.ExitCode}; {await stdout}{await stderr}");

        Assert.Equal(0, process.ExitCode);
        // Unknown keys and bad values are only warnings (exit 0): any line about our units fails the test.
        Assert.DoesNotContain("warren-", await stderr + await stdout, StringComparison.Ordinal);
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
