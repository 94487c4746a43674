using System.Diagnostics;
using System.Net;
using Warren.FaultTests.Harness;
using Xunit.Abstractions;

namespace Warren.FaultTests;

/// <summary>RELIABILITY (a) D1: the agent as a real process (the built warren CLI), killed the way a crash or kill -9 would.</summary>
[Collection(LoadCollection.Name)]
public sealed class AgentKillTests(ITestOutputHelper output) : LoggedTest(output)
{
    private const int Transfers = 45;
    private const int WaitingForHeaders = 5;

    [Fact]
    public async Task Agent_SIGKILLed_during_50_transfers_fails_each_promptly_never_truncated_then_503_then_served_byte_exact_after_restart()
    {
        await using var tunnel = await WarrenHarness.StartAsync(Log, new HarnessOptions { StartAgent = false });
        var yaml = tunnel.WriteAgentYaml();
        var agent = WarrenProcess.Start(Log, "agent#1", "agent", "--config", yaml);
        await using (agent)
        {
            await tunnel.WaitUntilServedAsync("app", TimeSpan.FromSeconds(60));

            // 45 downloads of 1 GiB each (none can finish before the kill), each paused once 256 KiB arrived and
            // checked, plus 5 requests the backend has not answered yet: 50 in flight when the agent dies.
            const long size = 1L << 30;
            using var giveUp = new CancellationTokenSource(TimeSpan.FromSeconds(120));
            var killed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var reached = Enumerable.Range(0, Transfers).Select(_ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).ToArray();
            var downloads = reached.Select(r => Harness.Transfers.DownloadAsync(tunnel.Client, tunnel.Request(HttpMethod.Get, $"/bytes/{size}"), giveUp.Token, 256 * 1024, r, killed.Task)).ToArray();
            var waiting = Enumerable.Range(0, WaitingForHeaders).Select(_ => Harness.Transfers.DownloadAsync(tunnel.Client, tunnel.Request(HttpMethod.Get, "/slow?ms=120000"), giveUp.Token)).ToArray();
            await Wait.WithTimeoutAsync(Task.WhenAll(reached.Select(r => r.Task)), TimeSpan.FromSeconds(60), "45 downloads reaching 256 KiB");
            await Wait.UntilAsync(() => tunnel.Agent is null && tunnel.Edge.State.Sessions.Sum(s => s.Mux.StreamCount) >= Transfers + WaitingForHeaders + 1,
                "the edge has all 50 requests (and the control stream) open on the agent's session");

            Log.Note("killing the agent process");
            agent.Kill();
            var killedAt = Stopwatch.GetTimestamp();
            killed.SetResult();

            // Each client sees an error (no hang), and no body ends cleanly short of its Content-Length.
            var outcomes = await Task.WhenAll(downloads.Concat(waiting));
            foreach (var (outcome, i) in outcomes.Select((o, i) => (o, i)))
            {
                Assert.False(outcome.Hung, $"request {i} was still waiting 120 s after the start: {outcome}");
                Assert.False(outcome.Complete, $"request {i} completed although the agent was killed: {outcome}");
                if (i < Transfers)
                {
                    Assert.Equal(HttpStatusCode.OK, outcome.Status);
                    Assert.Equal(size, outcome.ContentLength);
                    Assert.True(outcome.Error is not null && outcome.Verified < size, $"download {i} ended without an error after {outcome.Verified} of {size} bytes");
                }
                else
                {
                    // Not answered yet when the agent died: the edge answers for it, at once.
                    Assert.True(outcome.Status == HttpStatusCode.BadGateway, $"request {i}, waiting for headers: {outcome}");
                }
            }
            var slowest = outcomes.Max(o => Stopwatch.GetElapsedTime(killedAt, o.EndedAt));
            Log.Note($"all {outcomes.Length} requests ended within {slowest.TotalSeconds:0.00} s of the kill; downloads had {outcomes.Take(Transfers).Min(o => o.Verified)}..{outcomes.Take(Transfers).Max(o => o.Verified)} bytes");
            // Alone it is a fraction of a second; the bound only separates "failed" from "hung until some timeout".
            Assert.True(slowest < TimeSpan.FromSeconds(60), $"the slowest request ended {slowest.TotalSeconds:0.0} s after the kill");
        }

        await tunnel.WaitUntilNoSessionAsync();
        foreach (var path in new[] { "/echo", "/bytes/10" })
        {
            using var gone = await tunnel.GetAsync(path);
            Assert.Equal(HttpStatusCode.ServiceUnavailable, gone.StatusCode);
        }

        await using var restarted = WarrenProcess.Start(Log, "agent#2", "agent", "--config", yaml);
        await tunnel.WaitUntilServedAsync("app", TimeSpan.FromSeconds(60));
        await Harness.Transfers.AssertDownloadAsync(tunnel.Client, tunnel.Request(HttpMethod.Get, $"/bytes/{16 << 20}"), 16 << 20);
        await Harness.Transfers.AssertUploadAsync(tunnel.Client, tunnel.Request(HttpMethod.Post, "/sha256"), 4 << 20);
    }
}
