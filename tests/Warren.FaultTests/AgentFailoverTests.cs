using System.Collections.Concurrent;
using System.Diagnostics;
using Warren.FaultTests.Harness;
using Xunit.Abstractions;

namespace Warren.FaultTests;

/// <summary>RELIABILITY (a) C6 and D1: two agent processes serve one service with one token; one dies under load.</summary>
[Collection(LoadCollection.Name)]
public sealed class AgentFailoverTests(ITestOutputHelper output) : LoggedTest(output)
{
    private const int Workers = 16;
    private const int Size = 256 * 1024;

    [Fact]
    public async Task One_of_two_agents_killed_under_load_only_its_in_flight_requests_fail_and_every_other_is_200_byte_exact()
    {
        await using var tunnel = await WarrenHarness.StartAsync(Log, new HarnessOptions { StartAgent = false });
        var yaml = tunnel.WriteAgentYaml();
        // The same configuration and token, told apart at the edge by name.
        await using var doomed = WarrenProcess.Start(Log, "agent-a", "agent", "--config", yaml, "--name", "agent-a");
        await using var survivor = WarrenProcess.Start(Log, "agent-b", "agent", "--config", yaml, "--name", "agent-b");
        await Wait.UntilAsync(async () => (await tunnel.StatusAsync()).Services.SingleOrDefault(s => s.Name == "app")?.Sessions == 2,
            "both agents serve app", TimeSpan.FromSeconds(60));
        var sessions = tunnel.Edge.State.Sessions.ToArray();

        var outcomes = new ConcurrentQueue<TransferOutcome>();
        using var stop = new CancellationTokenSource();
        long edgeKnewAt = long.MaxValue;
        var succeededAfter = 0;
        var workers = Enumerable.Range(0, Workers).Select(_ => Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                using var giveUp = new CancellationTokenSource(TimeSpan.FromSeconds(30));
                var outcome = await Transfers.DownloadAsync(tunnel.Client, tunnel.Request(HttpMethod.Get, $"/bytes/{Size}"), giveUp.Token);
                outcomes.Enqueue(outcome);
                if (outcome.Complete && outcome.StartedAt > Interlocked.Read(ref edgeKnewAt))
                {
                    Interlocked.Increment(ref succeededAfter);
                }
            }
        })).ToArray();

        // Both sessions carry streams before the kill, so the dead one has requests in flight.
        await Wait.UntilAsync(() => outcomes.Count(o => o.Complete) >= 64 && sessions.All(s => s.Mux.StreamCount > 1), "load on both sessions", TimeSpan.FromSeconds(60));
        var doomedSession = sessions.Single(s => s.AgentName == "agent-a");
        Log.Note($"killing agent-a (pid {doomed.Id}); streams open per session: {string.Join(", ", sessions.Select(s => s.Mux.StreamCount))}");
        doomed.Kill();
        await doomed.WaitForExitAsync(TimeSpan.FromSeconds(15));
        var deadAt = Stopwatch.GetTimestamp();
        await Wait.UntilAsync(async () => (await tunnel.StatusAsync()).Sessions.Length == 1, "the edge lists only the surviving session");
        Interlocked.Exchange(ref edgeKnewAt, Stopwatch.GetTimestamp());
        await Wait.UntilAsync(() => Volatile.Read(ref succeededAfter) >= 64, "64 requests succeed after the edge noticed", TimeSpan.FromSeconds(60));
        await stop.CancelAsync();
        await Wait.WithTimeoutAsync(Task.WhenAll(workers), TimeSpan.FromSeconds(45), "the workers' last requests");

        var all = outcomes.ToArray();
        var failed = all.Where(o => !o.Complete).ToArray();
        Log.Note($"{all.Length} requests, {failed.Length} failed (all started before the edge knew agent-a was gone); {Volatile.Read(ref succeededAfter)} succeeded after");
        foreach (var failure in failed)
        {
            Log.Note($"failed: {failure}, started {Stopwatch.GetElapsedTime(failure.StartedAt, deadAt).TotalMilliseconds:0} ms before agent-a was seen dead");
        }
        Assert.All(failed, f => Assert.False(f.Hung, $"a request hung: {f}"));
        Assert.All(failed, f => Assert.True(f.StartedAt < Interlocked.Read(ref edgeKnewAt), $"a request started after the edge dropped agent-a's session failed: {f}"));
        Assert.True(failed.Length <= Workers, $"{failed.Length} requests failed; at most the {Workers} in flight could have been on agent-a");
        Assert.False(survivor.HasExited);
        Assert.Equal("agent-b", Assert.Single((await tunnel.StatusAsync()).Sessions).Agent);
        Assert.True(doomedSession.Mux.Completion.IsCompleted);
        Assert.All(all.Where(o => o.Complete), o => Assert.Equal(Size, o.Verified));
    }
}
