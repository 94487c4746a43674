using System.Text.RegularExpressions;
using Warren.Configuration;
using Warren.Testing.Servers;
using Xunit.Abstractions;

namespace Warren.FunctionalTests;

/// <summary>
/// <c>warren connect</c> as a process, with real clients (docs/operations.md, "Private services"): pgbench against a
/// private PostgreSQL, an SSH session to a private sshd, and the refusal a token without the grant gets.
/// </summary>
public sealed partial class ConnectProcessTests(ITestOutputHelper output) : LoggedTest(output)
{
    private readonly string _laptopToken = WarrenHarness.NewToken();

    private async Task<WarrenHarness> StartAsync(string service, int targetPort) =>
        Own(await WarrenHarness.StartAsync(Log, new HarnessOptions
        {
            Services = _ => [new ServiceConfig { Name = service, Target = new Uri($"tcp://127.0.0.1:{targetPort}"), Private = true }],
            ExtraTokens = [new EdgeTokenConfig { Name = "laptop", Token = _laptopToken, AllowConnect = ["db", "ssh"] }],
            ConfigureEdge = c => c with { Tokens = [.. c.Tokens.Select(t => t.Name == "tests" ? t with { AllowPrivate = [service] } : t)] },
        }));

    /// <summary>Starts <c>warren connect SERVICE --listen 127.0.0.1:0</c> and reads the port it bound from its log.</summary>
    private async Task<int> ConnectAsync(WarrenHarness harness, string service, string token)
    {
        var process = Own(WarrenProcess.Start(Log, "connect", ["connect", service, "--listen", "127.0.0.1:0", "--edge", $"127.0.0.1:{harness.Edge.AgentsPort}",
            "--edge-fingerprint", harness.Fingerprint, "--name", "laptop"], new Dictionary<string, string> { ["WARREN_TOKEN"] = token }));
        Match? listening = null;
        await Wait.UntilAsync(() => (listening = ListeningLine().Match(process.StandardOutput)).Success || process.HasExited,
            "warren connect to listen", TimeSpan.FromSeconds(60));
        Assert.True(listening!.Success, "warren connect exited: " + process.StandardError);
        return int.Parse(listening.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
    }

    [GeneratedRegex(@"Listening on 127\.0\.0\.1:(\d+)")]
    private static partial Regex ListeningLine();

    [Fact]
    public async Task Pgbench_runs_through_warren_connect_against_a_private_postgres()
    {
        await using var postgres = await PostgresServer.StartAsync(Log, ReservePort());
        var harness = await StartAsync("db", postgres.Port);
        var local = (await ConnectAsync(harness, "db", _laptopToken)).ToString(System.Globalization.CultureInfo.InvariantCulture);
        var pgbench = Path.Combine(PostgresServer.BinDirectory, "pgbench");
        string[] target = ["-h", "127.0.0.1", "-p", local, "-U", "postgres"];

        var (init, initOutput) = await ExternalProcess.RunAsync(Log, "pgbench-init", pgbench, ["-i", "-q", .. target, "postgres"], TimeSpan.FromMinutes(3));
        Assert.True(init == 0, "pgbench -i failed: " + initOutput);
        var (run, runOutput) = await ExternalProcess.RunAsync(Log, "pgbench", pgbench, ["-S", "-t", "200", "-c", "4", "-n", .. target, "postgres"], TimeSpan.FromMinutes(3));
        Assert.True(run == 0, "pgbench -S failed: " + runOutput);
        Assert.Contains("number of transactions actually processed: 800/800", runOutput, StringComparison.Ordinal);
        Assert.Contains("number of failed transactions: 0", runOutput, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_ssh_session_runs_through_warren_connect_to_a_private_sshd()
    {
        await using var sshd = await SshServer.StartAsync(Log, ReservePort());
        var harness = await StartAsync("ssh", sshd.Port);
        var local = await ConnectAsync(harness, "ssh", _laptopToken);

        var (code, output) = await ExternalProcess.RunAsync(Log, "ssh", "ssh", sshd.ClientArguments(local, "echo hello-through-warren; uname -s"), TimeSpan.FromMinutes(1));
        Assert.True(code == 0, "ssh failed: " + output);
        Assert.Contains("hello-through-warren", output, StringComparison.Ordinal);
        Assert.Contains("Linux", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Warren_connect_without_the_grant_exits_with_the_edges_reason()
    {
        var harness = await StartAsync("db", ReservePort());
        var result = await WarrenProcess.RunAsync(["connect", "db", "--listen", "127.0.0.1:0", "--edge", $"127.0.0.1:{harness.Edge.AgentsPort}",
            "--edge-fingerprint", harness.Fingerprint, "--token", harness.Token], Log);

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("warren connect: the edge refused: token 'tests' is not granted private service 'db' (allow_connect)", result.StandardError, StringComparison.Ordinal);
        await Log.WaitForAsync(TimeSpan.FromSeconds(30), "warren connect from", "token 'tests'", "not granted private service 'db'");
    }
}
