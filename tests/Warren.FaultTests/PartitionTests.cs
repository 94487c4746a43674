using System.Diagnostics;
using Warren.Agent;
using Warren.Configuration;
using Warren.FaultTests.Harness;
using Warren.Protocol.Framing;
using Xunit.Abstractions;

namespace Warren.FaultTests;

/// <summary>RELIABILITY (a) C1 and D5: the agent link cut without a reset (blackhole) and with one (RST), through a <see cref="FaultRelay"/>.</summary>
public sealed class PartitionTests(ITestOutputHelper output) : LoggedTest(output)
{
    /// <summary>Short, so a partition is noticed in seconds; edge and agent use the same (edge.yaml and agent.yaml <c>session</c>).</summary>
    private static readonly SessionConfig Keepalive = new() { KeepaliveInterval = TimeSpan.FromSeconds(1), KeepaliveTimeout = TimeSpan.FromSeconds(4) };

    /// <summary>Scheduling slack on a loaded machine; the default timeout (30 s) would exceed it.</summary>
    private static readonly TimeSpan Slack = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task Blackholed_agent_link_is_noticed_by_keepalive_on_both_sides_the_agent_reconnects_over_a_fresh_connection_and_the_old_session_is_reaped()
    {
        await using var tunnel = await WarrenHarness.StartAsync(Log, new HarnessOptions { StartAgent = false, Session = Keepalive });
        await using var relay = FaultRelay.Start(tunnel.Edge.AgentsPort, Log);
        await using var agent = await StartAgentThroughAsync(tunnel, relay);
        var oldSession = agent.Sessions.Single();
        var oldId = Assert.Single(await SessionIdsAsync(tunnel));

        using var inFlight = await PausedDownload.StartAsync(tunnel.Client, tunnel.Request(HttpMethod.Get, $"/bytes/{1L << 30}"));

        relay.Mode = RelayMode.Blackhole;
        var clock = Stopwatch.StartNew();
        var cutTask = inFlight.ResumeAsync();
        // Healed for new connections only: the blackholed one stays dark, as a dead NAT mapping would.
        relay.Mode = RelayMode.Pass;

        var agentSide = await Wait.WithTimeoutAsync(oldSession.Completion, Keepalive.KeepaliveTimeout + Slack, "the agent's keepalive noticing the partition");
        var agentNoticed = clock.Elapsed;
        Assert.Equal(ErrorCode.KeepAliveTimeout, agentSide.Code);

        await Wait.UntilAsync(async () => !(await SessionIdsAsync(tunnel)).Contains(oldId),
            "the edge's status no longer lists the partitioned session", Keepalive.KeepaliveTimeout + Slack);
        var edgeNoticed = clock.Elapsed;
        Assert.NotEmpty(tunnel.Log.Matching("KeepAliveTimeout", "edge<-"));

        var cut = await cutTask;
        Assert.True(cut.Error is not null && !cut.Hung && !cut.Complete, $"the download in flight across the partition: {cut}");

        await Wait.UntilAsync(() => agent.IsReady && agent.Sessions.SingleOrDefault() is { } s && s != oldSession, "the agent is ready on a new session", TimeSpan.FromSeconds(30));
        await Wait.UntilAsync(async () => await SessionIdsAsync(tunnel) is [var id] && id != oldId, "the edge lists exactly one session, the new one");
        var old = relay.Connections[0];
        await Wait.WithTimeoutAsync(old.Closed, TimeSpan.FromSeconds(30), "both ends closing the blackholed connection");
        Assert.True(old.Blackholed);
        Assert.Contains(relay.Connections.Skip(1), c => !c.Blackholed && !c.IsClosed);
        Log.Note($"partition noticed by the agent after {agentNoticed.TotalSeconds:0.0} s, by the edge after {edgeNoticed.TotalSeconds:0.0} s (keepalive timeout {Keepalive.KeepaliveTimeout.TotalSeconds} s); {relay.Connections.Count} relay connections");

        await Transfers.AssertDownloadAsync(tunnel.Client, tunnel.Request(HttpMethod.Get, $"/bytes/{8 << 20}"), 8 << 20);
    }

    [Fact]
    public async Task Reset_agent_link_fails_the_transfer_in_flight_at_once_and_the_agent_reconnects_without_waiting_for_keepalive()
    {
        // Default keepalive (30 s): the reset itself must end the session, long before a keepalive would.
        await using var tunnel = await WarrenHarness.StartAsync(Log, new HarnessOptions { StartAgent = false });
        await using var relay = FaultRelay.Start(tunnel.Edge.AgentsPort, Log);
        await using var agent = await StartAgentThroughAsync(tunnel, relay);
        var oldSession = agent.Sessions.Single();

        using var inFlight = await PausedDownload.StartAsync(tunnel.Client, tunnel.Request(HttpMethod.Get, $"/bytes/{1L << 30}"));

        relay.Mode = RelayMode.Reset;
        var cutTask = inFlight.ResumeAsync();
        var clock = Stopwatch.StartNew();
        var agentSide = await Wait.WithTimeoutAsync(oldSession.Completion, TimeSpan.FromSeconds(15), "the agent noticing the reset");
        Assert.NotEqual(ErrorCode.KeepAliveTimeout, agentSide.Code);
        var cut = await cutTask;
        Assert.True(cut.Error is not null && !cut.Hung && !cut.Complete, $"the download in flight when the link was reset: {cut}");
        Assert.All(relay.Connections, c => Assert.True(c.IsClosed));
        await tunnel.WaitUntilNoSessionAsync(TimeSpan.FromSeconds(15));
        Log.Note($"reset noticed by the agent and the client within {clock.Elapsed.TotalSeconds:0.00} s ({agentSide})");

        relay.Mode = RelayMode.Pass;
        await Wait.UntilAsync(() => agent.IsReady, "the agent is ready again", TimeSpan.FromSeconds(30));
        await tunnel.WaitUntilServedAsync("app");
        await Transfers.AssertDownloadAsync(tunnel.Client, tunnel.Request(HttpMethod.Get, $"/bytes/{8 << 20}"), 8 << 20);
        await Transfers.AssertUploadAsync(tunnel.Client, tunnel.Request(HttpMethod.Post, "/sha256"), 4 << 20);
    }

    [Fact]
    public async Task Agent_dialing_into_a_blackhole_gives_up_after_the_dial_timeout_and_connects_once_the_link_heals()
    {
        await using var tunnel = await WarrenHarness.StartAsync(Log, new HarnessOptions { StartAgent = false });
        await using var relay = FaultRelay.Start(tunnel.Edge.AgentsPort, Log);
        relay.Mode = RelayMode.Blackhole;
        await using var agent = new WarrenAgent(tunnel.AgentConfig() with { Edge = relay.Address }, tunnel.Log.Factory);
        var clock = Stopwatch.StartNew();
        agent.Start();

        // TCP connects (to the relay), the ClientHello vanishes: the dial must give up rather than wait forever.
        await Wait.UntilAsync(() => tunnel.Log.Matching("ConnectFailed", "no TLS session with the edge within 10 s").Count > 0,
            "the agent's dial timing out", TimeSpan.FromSeconds(60)); // the point is that it ends; a loaded CI host's timers run late
        Log.Note($"the dial into the blackhole gave up after {clock.Elapsed.TotalSeconds:0.0} s");
        relay.Mode = RelayMode.Pass;

        await Wait.UntilAsync(() => agent.IsReady, "the agent is ready once the link heals", TimeSpan.FromSeconds(10) + Slack);
        Assert.True(relay.Connections[0].Blackholed);
        await Transfers.AssertDownloadAsync(tunnel.Client, tunnel.Request(HttpMethod.Get, $"/bytes/{4 << 20}"), 4 << 20);
    }

    /// <summary>An in-process agent (the harness's configuration, same keepalive as the edge) that dials the edge through <paramref name="relay"/>.</summary>
    internal static async Task<WarrenAgent> StartAgentThroughAsync(WarrenHarness tunnel, FaultRelay relay)
    {
        var agent = new WarrenAgent(tunnel.AgentConfig() with { Edge = relay.Address }, tunnel.Log.Factory);
        agent.Start();
        await Wait.UntilAsync(() => agent.IsReady, "the agent is connected through the relay", TimeSpan.FromSeconds(30));
        return agent;
    }

    /// <summary>Ids of the agent sessions the edge's /api/status lists.</summary>
    private static async Task<long[]> SessionIdsAsync(WarrenHarness tunnel) => [.. (await tunnel.StatusAsync()).Sessions.Select(s => s.Id)];
}
