using Microsoft.Extensions.Logging.Abstractions;
using Warren.Edge.Agents;
using Warren.Edge.Routing;
using Warren.Protocol.Tunnel;

namespace Warren.Edge.Tests.Routing;

/// <summary>Which session of a service a request goes to: a usable one (not going away), the least loaded.</summary>
public sealed class ServiceEntryTests : IAsyncLifetime
{
    private readonly List<MuxPair> _pairs = [];

    [Fact]
    public async Task PickSession_skips_a_session_that_is_going_away_and_returns_null_when_none_is_left()
    {
        var entry = new ServiceEntry(1, "alice", new ServiceRegistration { Name = "web", Hostnames = ["app.test"] });
        var (draining, drainingMux) = await SessionAsync();
        var (live, _) = await SessionAsync();
        entry.Add(draining);
        entry.Add(live);

        drainingMux.GoAway("test: draining");

        Assert.Same(live, entry.PickSession());
        live.Mux.GoAway("test: draining too");
        Assert.Null(entry.PickSession());
    }

    [Fact]
    public async Task PickSession_prefers_the_session_with_fewer_open_streams()
    {
        var entry = new ServiceEntry(1, "alice", new ServiceRegistration { Name = "web", Hostnames = ["app.test"] });
        var (busy, _) = await SessionAsync();
        var (idle, _) = await SessionAsync();
        entry.Add(busy);
        entry.Add(idle);
        var pair = _pairs[0];
        var accepted = pair.Agent.AcceptStreamAsync();
        var open = busy.Mux.OpenStreamAsync(new StreamOpenRequest(StreamKind.Http, "web", "").Encode());
        (await accepted.AsTask().WaitAsync(Wait.DefaultTimeout)).Accept();
        await using var stream = await open.AsTask().WaitAsync(Wait.DefaultTimeout);

        Assert.Same(idle, entry.PickSession());
    }

    [Fact]
    public async Task PickSession_spreads_picks_over_equally_loaded_sessions()
    {
        // A burst of new pooled connections all see the same stream counts; each connection then stays on its session.
        var entry = new ServiceEntry(1, "alice", new ServiceRegistration { Name = "web", Hostnames = ["app.test"] });
        var (first, _) = await SessionAsync();
        var (second, _) = await SessionAsync();
        entry.Add(first);
        entry.Add(second);

        var picks = Enumerable.Range(0, 16).Select(_ => entry.PickSession()).ToArray();

        Assert.Equal(8, picks.Count(p => ReferenceEquals(p, first)));
        Assert.Equal(8, picks.Count(p => ReferenceEquals(p, second)));
    }

    [Fact]
    public async Task A_session_is_listed_once_however_often_it_is_added()
    {
        var entry = new ServiceEntry(1, "alice", new ServiceRegistration { Name = "web", Hostnames = ["app.test"] });
        var (session, _) = await SessionAsync();

        entry.Add(session);
        entry.Add(session);
        Assert.Single(entry.Sessions);
        entry.Remove(session);

        Assert.Empty(entry.Sessions);
    }

    [Fact]
    public async Task OpenStreamAsync_opens_on_the_next_session_when_the_first_went_away_and_refused_the_open_unprocessed()
    {
        // An agent that goes away (SIGTERM, an edge upgrade) refuses the streams it had not started serving: the open
        // crossed its GOAWAY. The client's connection must wait for the next session, never be reset for it.
        var entry = new ServiceEntry(1, "alice", new ServiceRegistration { Name = "db", Port = 5432 });
        var (leaving, _) = await SessionAsync();
        leaving.Services = [entry];
        entry.Add(leaving);
        var grace = new Warren.Configuration.GraceConfig { Timeout = TimeSpan.FromSeconds(60) };

        var open = entry.OpenStreamAsync(leaving, StreamKind.Tcp, "127.0.0.1:40000", grace, CancellationToken.None).AsTask();
        await RefuseAndReplaceAsync(entry, leaving);
        var served = await _pairs[1].Agent.AcceptStreamAsync().AsTask().WaitAsync(Wait.DefaultTimeout);
        served.Accept();

        await using var stream = await open.WaitAsync(Wait.DefaultTimeout);
        Assert.Equal(StreamKind.Tcp, StreamOpenRequest.Decode(served.Metadata.Span).Kind);
        await served.DisposeAsync();
    }

    [Fact]
    public async Task An_http_request_whose_connection_open_crossed_a_goaway_is_sent_once_on_the_next_session()
    {
        // The forwarder's HTTP client opens a pooled connection's stream in its connect callback; an agent restarting
        // refuses it unprocessed. The request must wait for the next session and be answered there, not fail with 502.
        var entry = new ServiceEntry(1, "alice", new ServiceRegistration { Name = "web", Hostnames = ["app.test"] });
        var (leaving, _) = await SessionAsync();
        leaving.Services = [entry];
        entry.Add(leaving);
        var grace = new Warren.Configuration.GraceConfig { Timeout = TimeSpan.FromSeconds(60) };
        using var client = Warren.Edge.Forwarding.TunnelHttpClientFactory.Create(TimeSpan.FromSeconds(60));
        using var request = new HttpRequestMessage(HttpMethod.Get, entry.TunnelDestination + "hello");
        request.Options.Set(Warren.Edge.Forwarding.TunnelRequest.Key, new Warren.Edge.Forwarding.TunnelRequest(entry, leaving, grace, null, 0));

        var response = client.SendAsync(request, CancellationToken.None);
        await RefuseAndReplaceAsync(entry, leaving);
        await using var served = await _pairs[1].Agent.AcceptStreamAsync().AsTask().WaitAsync(Wait.DefaultTimeout);
        served.Accept();
        var head = new byte[4096];
        var read = 0;
        while (!System.Text.Encoding.ASCII.GetString(head, 0, read).Contains("\r\n\r\n", StringComparison.Ordinal))
        {
            var n = await served.ReadAsync(head.AsMemory(read)).AsTask().WaitAsync(Wait.DefaultTimeout);
            Assert.NotEqual(0, n);
            read += n;
        }
        await served.WriteAsync("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"u8.ToArray());

        using var answered = await response.WaitAsync(Wait.DefaultTimeout);
        Assert.Equal(System.Net.HttpStatusCode.OK, answered.StatusCode);
        Assert.Equal("ok", await answered.Content.ReadAsStringAsync());
        Assert.StartsWith("GET /hello HTTP/1.1", System.Text.Encoding.ASCII.GetString(head, 0, read), StringComparison.Ordinal);
        Assert.Equal(StreamKind.Http, StreamOpenRequest.Decode(served.Metadata.Span).Kind);
    }

    /// <summary>
    /// The agent behind <paramref name="leaving"/> (the first pair) goes away with an open it has not started serving,
    /// refuses that open, and a next session (the second pair) takes over the service.
    /// </summary>
    private async Task RefuseAndReplaceAsync(ServiceEntry entry, AgentSession leaving)
    {
        var unprocessed = await _pairs[0].Agent.AcceptStreamAsync().AsTask().WaitAsync(Wait.DefaultTimeout);
        _pairs[0].Agent.GoAway("test: agent shutting down");
        unprocessed.Abort(Warren.Protocol.Framing.ErrorCode.RefusedStream);
        await Wait.UntilAsync(() => !leaving.IsUsable, "the edge's end saw the GOAWAY");
        var (next, _) = await SessionAsync();
        next.Services = [entry];
        entry.Add(next);
        entry.Grace.Wake();
    }

    private async Task<(AgentSession Session, Warren.Protocol.Session.MuxSession Mux)> SessionAsync()
    {
        var pair = await MuxPair.StartAsync(NullLoggerFactory.Instance);
        _pairs.Add(pair);
        return (new AgentSession(pair.Edge, "alice", "agent", null, DateTimeOffset.UnixEpoch), pair.Edge);
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var pair in _pairs)
        {
            await pair.DisposeAsync();
        }
    }
}
