using System.Text.RegularExpressions;
using Warren.SecurityTests.Harness;
using Xunit.Abstractions;

namespace Warren.SecurityTests;

/// <summary>What a peer sends reaches the edge's log bounded and escaped, and its metrics in bounded number (docs/security.md, "Logs and metrics").</summary>
public sealed partial class LogAndMetricBoundsTests(ITestOutputHelper output) : SecurityTest(output)
{
    [Fact]
    public async Task Unauthenticated_agent_name_reaches_the_log_escaped_and_cut_short()
    {
        var edge = await StartEdgeAsync();
        var transfer = await StartTransferAsync(edge);

        // ESC [31m would colour an operator's terminal, a newline would forge a log line, and 100 KB per failed login
        // (within the 1 MiB control message) would fill the disk.
        await using var raw = await ConnectRawAsync(edge);
        var name = "\u001b[31mred\nforged " + new string('A', 100_000);
        var answer = await raw.AuthenticateAsync(WarrenHarness.NewToken(), name);
        Assert.False(answer!.Ok);

        var line = await Log.WaitForAsync(Wait.DefaultTimeout, "[AgentAuthFailed]");
        Assert.Contains("agent name '\\u001b[31mred\\u000aforged AAAA", line, StringComparison.Ordinal);
        Assert.Contains($"...({name.Length} chars)", line, StringComparison.Ordinal);
        Assert.True(line.Length < 400, $"{line.Length} characters");
        Assert.DoesNotContain(Log.Lines, l => l.Contains('\u001b', StringComparison.Ordinal) || l.Contains("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", StringComparison.Ordinal));

        await transfer.CompleteAsync();
        await AssertStillServesAsync(edge);
    }

    [Fact]
    public async Task Series_of_gone_agents_are_bounded_while_live_ones_stay()
    {
        var edge = await StartEdgeAsync();
        edge.Edge.Metrics!.MaxGoneAgents = 3;
        var transfer = await StartTransferAsync(edge);

        // An agent may call itself anything: ten names, one after the other, each leaving its series behind.
        for (var i = 0; i < 10; i++)
        {
            await using (var raw = await ConnectRawAsync(edge))
            {
                Assert.True((await raw.AuthenticateAsync(edge.Token, $"name-{i}"))!.Ok);
                await Wait.UntilAsync(() => edge.Edge.SessionCount == 2, $"session name-{i} to be listed");
            }
            await Wait.UntilAsync(() => edge.Edge.SessionCount == 1, $"session name-{i} to end");
        }

        var metrics = await edge.MetricsTextAsync();
        var agents = AgentLabel().Matches(metrics).Select(m => m.Groups[1].Value).ToHashSet();
        Log.Note("agent label values: " + string.Join(", ", agents.Order(StringComparer.Ordinal)));
        Assert.Equal(["good-agent", "name-7", "name-8", "name-9"], agents.Order(StringComparer.Ordinal));
        Assert.Equal(1, await edge.MetricAsync("warren_edge_sessions", "agent=\"good-agent\""));

        await transfer.CompleteAsync();
        await AssertStillServesAsync(edge);
    }

    [GeneratedRegex("agent=\"([^\"]*)\"")]
    private static partial Regex AgentLabel();
}
