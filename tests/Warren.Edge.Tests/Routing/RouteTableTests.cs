using Microsoft.Extensions.Logging.Abstractions;
using Warren.Configuration;
using Warren.Edge.Agents;
using Warren.Edge.Routing;
using Warren.Protocol.Tunnel;

namespace Warren.Edge.Tests.Routing;

/// <summary>
/// The route table's ownership rules (docs/security.md), the security core: a hostname or port belongs to the token
/// that first registered it; sessions of that token share it; another token's claim is refused, never evicting.
/// Then matching: exact host before a one-label wildcard, longest path prefix on segment boundaries.
/// </summary>
public sealed class RouteTableTests : IAsyncLifetime
{
    private readonly RouteTable _routes = new();
    private readonly List<MuxPair> _pairs = [];

    [Fact]
    public async Task Hostname_claimed_by_another_token_is_refused_and_the_owner_keeps_it()
    {
        var owner = await SessionAsync("alice");
        var thief = await SessionAsync("mallory");
        Assert.True(Assert.Single(Register(owner, Http("web", "app.example.com"))).Ok);

        var refused = Assert.Single(Register(thief, Http("web", "APP.example.com")));

        Assert.False(refused.Ok);
        Assert.Equal("hostname APP.example.com is owned by another token", refused.Error);
        Assert.Equal("alice", _routes.MatchHttp("app.example.com", "/")!.Owner);
        Assert.Empty(thief.Services);
    }

    [Fact]
    public async Task Port_claimed_by_another_token_is_refused()
    {
        var owner = await SessionAsync("alice");
        var thief = await SessionAsync("mallory");
        Assert.True(Assert.Single(Register(owner, Tcp("ssh", 2222))).Ok);

        var refused = Assert.Single(Register(thief, Tcp("other", 2222)));

        Assert.False(refused.Ok);
        Assert.Equal("port 2222 is already published by another service", refused.Error);
        Assert.Equal("alice", _routes.MatchPort(2222)!.Owner);
    }

    [Fact]
    public async Task Sessions_of_the_same_token_share_a_service()
    {
        var first = await SessionAsync("alice");
        var second = await SessionAsync("alice");

        Register(first, Http("web", "app.example.com"));
        Assert.True(Assert.Single(Register(second, Http("web", "app.example.com"))).Ok);

        var entry = Assert.Single(_routes.Services);
        Assert.Equal(new[] { first, second }, entry.Sessions.ToArray());
    }

    [Fact]
    public async Task Same_token_cannot_publish_two_services_on_one_hostname_and_prefix_but_may_on_distinct_prefixes()
    {
        var session = await SessionAsync("alice");

        var results = Register(session, Http("web", "app.example.com"), Http("web2", "app.example.com"), Http("api", "app.example.com", "/api"));

        Assert.Equal([true, false, true], results.Select(r => r.Ok));
        Assert.Equal("hostname app.example.com with the same path prefix is already served by service web", results[1].Error);
        Assert.Equal("api", _routes.MatchHttp("app.example.com", "/api/users")!.Name);
        Assert.Equal("web", _routes.MatchHttp("app.example.com", "/")!.Name);
    }

    [Fact]
    public async Task Grant_refusal_refuses_that_service_only()
    {
        var session = await SessionAsync("alice");

        var results = _routes.Register(session, [new ServiceClaim(Http("inside", "in.example.com"), null), new ServiceClaim(Http("outside", "evil.example.com"), "not granted")]);

        Assert.Equal([true, false], results.Select(r => r.Ok));
        Assert.Equal("not granted", results[1].Error);
        Assert.NotNull(_routes.MatchHttp("in.example.com", "/"));
        Assert.Null(_routes.MatchHttp("evil.example.com", "/"));
    }

    [Fact]
    public async Task Re_registration_replaces_what_the_session_registered_before()
    {
        var session = await SessionAsync("alice");
        Register(session, Http("old", "old.example.com"), Tcp("ssh", 2222));

        Register(session, Http("new", "new.example.com"));

        Assert.Equal(["new"], _routes.Services.Select(s => s.Name));
        Assert.Null(_routes.MatchPort(2222));
        Assert.Equal("new", _routes.MatchHttp("new.example.com", "/")!.Name);
    }

    [Fact]
    public async Task Service_whose_last_session_ended_stays_routed_offline_owns_nothing_and_a_live_claim_shadows_it()
    {
        var first = await SessionAsync("alice");
        Register(first, Http("web", "app.example.com"));

        _routes.Unregister(first);

        var offline = _routes.MatchHttp("app.example.com", "/");
        Assert.NotNull(offline);
        Assert.True(offline.Sessions.IsEmpty); // the forwarder answers 503, not 404
        var other = await SessionAsync("bob");
        Assert.True(Assert.Single(Register(other, Http("site", "app.example.com"))).Ok);
        Assert.Equal("bob", _routes.MatchHttp("app.example.com", "/")!.Owner);
    }

    [Fact]
    public async Task After_a_handover_no_grace_queue_holds_a_request_neither_one_waiting_nor_one_of_a_service_registered_later()
    {
        // An upgraded edge's agents move to the new edge: a service without a session here never gets one again, so a
        // request waiting for one is let go at once (and refused unprocessed), not held for the whole grace.
        var grace = new GraceConfig { Timeout = TimeSpan.FromSeconds(60) };
        var first = await SessionAsync("alice");
        Register(first, Http("web", "app.example.com"));
        _routes.Unregister(first);
        var offline = _routes.MatchHttp("app.example.com", "/")!;
        var waiting = offline.WaitForSessionAsync(grace, CancellationToken.None).AsTask();
        await Wait.UntilAsync(() => offline.Grace.Waiting == 1, "the request waits in the grace queue");

        _routes.HandOver();

        Assert.Null(await waiting.WaitAsync(Wait.DefaultTimeout));
        Assert.True(_routes.HandedOver);
        var late = await SessionAsync("bob");
        Register(late, Http("site", "site.example.com"));
        late.Mux.GoAway("test: moving to the new edge");
        var site = _routes.MatchHttp("site.example.com", "/")!;
        Assert.Null(await site.WaitForSessionAsync(grace, CancellationToken.None).AsTask().WaitAsync(Wait.DefaultTimeout));
        Assert.Equal(0, site.Grace.Waiting);
    }

    [Fact]
    public async Task Released_port_can_be_claimed_by_another_token()
    {
        var first = await SessionAsync("alice");
        Register(first, Tcp("ssh", 2222));
        _routes.Unregister(first);

        // Still matched, offline, so a connection waits in its grace queue (docs/operations.md); it owns nothing.
        var offline = _routes.MatchPort(2222);
        Assert.NotNull(offline);
        Assert.True(offline.Sessions.IsEmpty);
        var other = await SessionAsync("bob");
        Assert.True(Assert.Single(Register(other, Tcp("ssh", 2222))).Ok);
        Assert.Equal("bob", _routes.MatchPort(2222)!.Owner);
    }

    [Fact]
    public async Task Tcp_port_change_is_raised_for_its_first_session_and_its_last()
    {
        var changes = new List<(string Service, bool Added)>();
        _routes.TcpServiceChanged += (entry, added) => changes.Add((entry.Name, added));
        var first = await SessionAsync("alice");
        var second = await SessionAsync("alice");

        Register(first, Tcp("ssh", 2222));
        Register(second, Tcp("ssh", 2222));
        _routes.Unregister(first);
        Assert.Equal([("ssh", true)], changes);
        _routes.Unregister(second);

        Assert.Equal([("ssh", true), ("ssh", false)], changes);
    }

    [Theory]
    [InlineData("app.example.com", "web")]
    [InlineData("APP.Example.COM", "web")]
    [InlineData("other.example.com", "wild")]
    [InlineData("a.b.example.com", null)]
    [InlineData("example.com", null)]
    [InlineData("app.example.org", null)]
    public async Task Exact_hostname_wins_over_a_one_label_wildcard(string host, string? expected)
    {
        var session = await SessionAsync("alice");
        Register(session, Http("wild", "*.example.com"), Http("web", "app.example.com"));

        Assert.Equal(expected, _routes.MatchHttp(host, "/")?.Name);
    }

    [Theory]
    [InlineData("/api", "api")]
    [InlineData("/api/v1/x", "v1")]
    [InlineData("/api/v1", "v1")]
    [InlineData("/api/v10", "api")]
    [InlineData("/apix", "root")]
    [InlineData("/", "root")]
    public async Task Longest_path_prefix_wins_on_segment_boundaries(string path, string expected)
    {
        var session = await SessionAsync("alice");
        Register(session, Http("root", "app.example.com"), Http("api", "app.example.com", "/api"), Http("v1", "app.example.com", "/api/v1"));

        Assert.Equal(expected, _routes.MatchHttp("app.example.com", path)?.Name);
    }

    private IReadOnlyList<RegistrationResult> Register(AgentSession session, params ServiceRegistration[] registrations) =>
        _routes.Register(session, [.. registrations.Select(r => new ServiceClaim(r, null))]);

    private static ServiceRegistration Http(string name, string host, string? prefix = null) =>
        new() { Name = name, Kind = "http", Hostnames = [host], PathPrefix = prefix };

    private static ServiceRegistration Tcp(string name, int port) => new() { Name = name, Kind = "tcp", Port = port };

    /// <summary>An authenticated session of <paramref name="token"/> on a real multiplexer session (in-memory pipes).</summary>
    private async Task<AgentSession> SessionAsync(string token)
    {
        var pair = await MuxPair.StartAsync(NullLoggerFactory.Instance);
        _pairs.Add(pair);
        return new AgentSession(pair.Edge, token, "agent", null, DateTimeOffset.UnixEpoch);
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
