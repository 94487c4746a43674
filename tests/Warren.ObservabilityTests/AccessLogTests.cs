using System.Net;
using System.Text.RegularExpressions;
using Warren.Configuration;
using Xunit.Abstractions;

namespace Warren.ObservabilityTests;

/// <summary>
/// access_log in edge.yaml (docs/observability.md, "Access log"): the console by default, a file, or off; the
/// console line is the default and is covered by <see cref="MetricsTests"/>.
/// </summary>
public sealed class AccessLogTests(ITestOutputHelper output) : LoggedTest(output)
{
    [Fact]
    public async Task Access_log_goes_to_its_file_and_not_to_the_console_when_output_is_file()
    {
        await using var tunnel = await WarrenHarness.StartAsync(Log, new HarnessOptions
        {
            ConfigureEdge = c => c with { AccessLog = new AccessLogConfig { Output = AccessLogConfig.File } },
        });
        var file = Path.Combine(tunnel.DataDirectory, "access.log");

        using (var response = await tunnel.GetAsync("/echo?secret=s1"))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        await Wait.UntilAsync(() => File.Exists(file) && ReadShared(file).Contains(" app GET ", StringComparison.Ordinal), "the line in access.log");
        var line = Assert.Single(ReadShared(file).Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains($" app GET {WarrenHarness.AppHost}/echo 200 ", line, StringComparison.Ordinal);
        Assert.Contains(" client=127.0.0.1 session=", line, StringComparison.Ordinal);
        Assert.DoesNotContain("secret", line, StringComparison.Ordinal);
        Assert.DoesNotContain(Log.Entries, e => e.Category == "Warren.Access");
    }

    [Fact]
    public async Task Access_log_off_writes_no_line_anywhere()
    {
        await using var tunnel = await WarrenHarness.StartAsync(Log, new HarnessOptions
        {
            ConfigureEdge = c => c with { AccessLog = new AccessLogConfig { Output = AccessLogConfig.Off } },
        });

        for (var i = 0; i < 2; i++)
        {
            using var response = await tunnel.GetAsync("/echo");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        await Wait.UntilAsync(async () => await tunnel.MetricAsync("warren_http_requests_total", "service=\"app\"", "code=\"200\"") == 2, "both requests counted");
        Assert.False(tunnel.Edge.AccessLog!.Enabled);
        Assert.DoesNotContain(Log.Entries, e => e.Category == "Warren.Access");
        Assert.False(File.Exists(Path.Combine(tunnel.DataDirectory, "access.log")));
    }

    [Fact]
    public async Task Edge_process_with_stdout_piped_writes_the_console_line_in_the_loggers_format()
    {
        // WarrenProcess pipes standard output: the edge writes access lines there itself, a batch per write
        // (Telemetry/BatchedConsoleOutput.cs), in the text console's format, between the logger's own lines.
        await using var tunnel = await WarrenHarness.StartAsync(Log, new HarnessOptions { StartAgent = false });
        await using var edge = await EdgeProcess.StartAsync(Log, "edge", TempDirectory(), tunnel.Token);
        var service = new Warren.Configuration.ServiceConfig { Name = "app", Hostnames = [WarrenHarness.AppHost], Target = tunnel.BackendUri };
        await using var agent = new Warren.Agent.WarrenAgent(edge.AgentConfig(tunnel.Token, [service]), Log.Factory);
        agent.Start();
        await Wait.UntilAsync(() => agent.IsReady, "the agent is connected to the edge process");

        for (var i = 0; i < 3; i++)
        {
            using var request = edge.Request(HttpMethod.Get, $"/echo?n={i}&secret=s1");
            using var response = await tunnel.Client.SendAsync(request);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        await Wait.UntilAsync(() => AccessLines(edge).Length == 3, "three access lines on the edge's standard output");
        Assert.All(AccessLines(edge), line =>
        {
            Assert.Matches($@"^\d\d:\d\d:\d\d info: Warren\.Access\[900\] app GET {Regex.Escape(WarrenHarness.AppHost)}/echo 200 [0-9.]+ms in=0 out=\d+ client=127\.0\.0\.1 session=test-agent#\d+$", line);
            Assert.DoesNotContain("secret", line, StringComparison.Ordinal);
        });
        Assert.Contains(" info: warren[0] Edge up:", edge.Process.StandardOutput, StringComparison.Ordinal);
    }

    private static string[] AccessLines(EdgeProcess edge) =>
        edge.Process.StandardOutput.Split('\n').Select(l => l.TrimEnd('\r')).Where(l => l.Contains("Warren.Access", StringComparison.Ordinal)).ToArray();

    /// <summary>Reads the file the edge still has open for writing.</summary>
    private static string ReadShared(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }
}
