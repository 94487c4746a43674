using System.Net;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Warren.Configuration;
using Warren.Edge.Agents;
using Warren.Edge.Routing;
using Warren.Protocol.Tunnel;
using Warren.SecurityTests.Harness;
using Xunit.Abstractions;

namespace Warren.SecurityTests;

/// <summary>
/// An authenticated agent's registration is input like any other (RegistrationHandler; docs/security.md,
/// "Registration"): every field is checked, each refusal says why, and none of them costs the session or the edge.
/// </summary>
public sealed class RegistrationTests(ITestOutputHelper output) : SecurityTest(output)
{
    [Fact]
    public async Task Out_of_range_fields_are_refused_with_a_reason_and_the_session_keeps_working()
    {
        var token = WarrenHarness.NewToken();
        var edge = await StartEdgeAsync(new HarnessOptions { ExtraTokens = [WarrenHarness.Grant("fields", token, ["*.fields.test"], [40100])] });
        var transfer = await StartTransferAsync(edge);
        await using var raw = await ConnectRawAsync(edge);
        Assert.True((await raw.AuthenticateAsync(token))!.Ok);

        static ServiceRegistration Http(string name) => new() { Name = name, Kind = "http", Hostnames = [name + ".fields.test"] };
        var cases = new (ServiceRegistration Service, string Reason)[]
        {
            // 9e18 ms threw OverflowException while the route table was locked and dropped the session.
            (Http("timeout") with { ResponseTimeoutMs = 9_000_000_000_000_000_000 }, "response_timeout_ms must be 1 to 86400000 (it is 9000000000000000000)"),
            (Http("timeout-zero") with { ResponseTimeoutMs = 0 }, "response_timeout_ms must be 1 to 86400000 (it is 0)"),
            // -1 was accepted, and every request to the service then failed with 500 (Kestrel refuses a negative limit).
            (Http("body") with { MaxRequestBodySize = -1 }, "max_request_body_size must be more than 0 bytes (it is -1)"),
            (Http("slots") with { MaxConcurrency = -5 }, "max_concurrency must be 1 to 100000 (it is -5)"),
            (Http("prefix") with { PathPrefix = "api" }, "path_prefix 'api' must start with '/'"),
            (Http("prefix-long") with { PathPrefix = "/" + new string('a', 2000) }, "must start with '/', be at most 1024 characters"),
            (Http("x") with { Name = "web\n" }, "'web\\u000a' is not a valid service name"),
            (Http("x") with { Name = "caf\u00e9" }, "is not a valid service name"),
            (Http("kind") with { Kind = "udp" }, "unknown service kind 'udp'"),
            (Http("tcp-host") with { Kind = "tcp", Port = 40100 }, "a TCP service needs a port 1..65535, and no hostnames or path prefix"),
            (Http("many") with { Hostnames = [.. Enumerable.Range(0, 101).Select(i => $"h{i}.fields.test")] }, "101 hostnames; a service may have at most 100"),
            (Http("twice") with { Hostnames = ["twice.fields.test", "TWICE.fields.test"] }, "hostname twice.fields.test is listed more than once"),
            (Http("ok"), ""),
            (Http("ok"), "service name 'ok' appears more than once in this registration"),
        };
        var results = await raw.RegisterAsync([.. cases.Select(c => c.Service)]);

        Assert.Equal(cases.Length, results.Count);
        for (var i = 0; i < cases.Length; i++)
        {
            Log.Note($"{cases[i].Service.Name}: {results[i].Ok} {results[i].Error}");
            if (cases[i].Reason.Length == 0)
            {
                Assert.True(results[i].Ok);
            }
            else
            {
                Assert.False(results[i].Ok);
                Assert.Contains(cases[i].Reason, results[i].Error, StringComparison.Ordinal);
            }
        }
        Assert.Null(edge.Edge.State.Routes.MatchHttp("timeout.fields.test", "/"));
        Assert.NotNull(edge.Edge.State.Routes.MatchHttp("ok.fields.test", "/"));
        Assert.DoesNotContain(Log.Lines, l => l.Contains("Exception", StringComparison.Ordinal) || l.Contains(" fail ", StringComparison.Ordinal));

        // The session is still up and registers again (replacing the first registration).
        var again = await raw.RegisterAsync(Http("timeout") with { ResponseTimeoutMs = 30_000 });
        Assert.True(Assert.Single(again).Ok);
        Assert.NotNull(edge.Edge.State.Routes.MatchHttp("timeout.fields.test", "/"));
        Assert.Null(edge.Edge.State.Routes.MatchHttp("ok.fields.test", "/"));

        await transfer.CompleteAsync();
        await AssertStillServesAsync(edge);
    }

    [Fact]
    public async Task Registration_over_the_service_cap_is_refused_whole()
    {
        var token = WarrenHarness.NewToken();
        var edge = await StartEdgeAsync(new HarnessOptions
        {
            Limits = new EdgeLimitsConfig { MaxServicesPerSession = 5 },
            ExtraTokens = [WarrenHarness.Grant("cap", token, ["*.cap.test"])],
        });
        var transfer = await StartTransferAsync(edge);
        await using var raw = await ConnectRawAsync(edge);
        Assert.True((await raw.AuthenticateAsync(token))!.Ok);
        ServiceRegistration[] Services(int count) => [.. Enumerable.Range(0, count).Select(i => new ServiceRegistration { Name = $"s{i}", Kind = "http", Hostnames = [$"s{i}.cap.test"] })];

        var answer = await raw.ExchangeAsync(new ControlMessage { Type = ControlMessage.Register, Services = Services(6) });
        Assert.Equal(ControlMessage.RegisterResult, answer.Type);
        Assert.Empty(answer.Results!);
        Assert.Equal("6 services in one registration; this edge accepts at most 5 per session (limits.max_services_per_session)", answer.Error);
        Assert.Null(edge.Edge.State.Routes.MatchHttp("s0.cap.test", "/"));
        await Log.WaitForAsync(Wait.DefaultTimeout, "[RegistrationTooLarge]", "6 services");

        Assert.All(await raw.RegisterAsync(Services(5)), r => Assert.True(r.Ok));
        Assert.NotNull(edge.Edge.State.Routes.MatchHttp("s4.cap.test", "/"));

        await transfer.CompleteAsync();
        await AssertStillServesAsync(edge);
    }

    /// <summary>
    /// 1,000 services of 50 hostnames each (the cap, under the 1 MiB message limit): every claim used to be compared
    /// with every hostname of every service registered before it, 1.25e9 comparisons under the route lock; now each
    /// hostname is one dictionary look-up, and the answer comes within the raw agent's 10 s wait.
    /// </summary>
    [Fact]
    public async Task Large_registration_is_checked_against_indexes_not_every_other_service()
    {
        var token = WarrenHarness.NewToken();
        var edge = await StartEdgeAsync(new HarnessOptions { ExtraTokens = [WarrenHarness.Grant("big", token, ["*.test"])] });
        var transfer = await StartTransferAsync(edge);
        await using var raw = await ConnectRawAsync(edge);
        Assert.True((await raw.AuthenticateAsync(token))!.Ok);
        var services = Enumerable.Range(0, 1000).Select(i => new ServiceRegistration
        {
            Name = $"s{i}",
            Kind = "http",
            Hostnames = [.. Enumerable.Range(0, 50).Select(j => $"h{j}.s{i}.test")],
        }).ToArray();
        // One collision at the end, so the check runs to the last claim: good.test belongs to the good agent's token.
        services[^1] = services[^1] with { Hostnames = [.. services[^1].Hostnames.Take(49), GoodHost] };

        var results = await raw.RegisterAsync(services);

        Assert.Equal(999, results.Count(r => r.Ok));
        Assert.Equal($"hostname {GoodHost} is owned by another token", results[^1].Error);
        Assert.Equal("big", edge.Edge.State.Routes.MatchHttp("h49.s998.test", "/")!.Owner);

        await transfer.CompleteAsync();
        await AssertStillServesAsync(edge);
    }

    [Fact]
    public async Task Registrations_of_one_session_are_at_least_a_second_apart()
    {
        var edge = await StartEdgeAsync();
        await using var raw = await ConnectRawAsync(edge);
        Assert.True((await raw.AuthenticateAsync(edge.Token, "spaced"))!.Ok);
        // The edge adds the session to its state just after answering the login.
        await Wait.UntilAsync(() => edge.Edge.State.Sessions.Any(s => s.AgentName == "spaced"), "the edge to list the raw agent's session");
        var session = edge.Edge.State.Sessions.Single(s => s.AgentName == "spaced");
        var time = new FakeTimeProvider();
        using var policyServices = NoPolicyServices(time);
        // Its own table: the session's registrations here never touch the edge's routes.
        var handler = new RegistrationHandler(new RouteTable(), new Warren.Edge.Policy.EdgePolicies(new EdgeConfig(), policyServices), 1000, time, NullLogger<RegistrationHandler>.Instance);
        ServiceRegistration[] web = [new() { Name = "web", Kind = "http", Hostnames = [GoodHost] }];

        Assert.True(handler.HandleAsync(session, web, CancellationToken.None).AsTask().IsCompletedSuccessfully);
        var second = handler.HandleAsync(session, web, CancellationToken.None).AsTask();
        time.Advance(TimeSpan.FromMilliseconds(999));
        Assert.False(second.IsCompleted);
        time.Advance(TimeSpan.FromMilliseconds(1));
        var answer = await second.WaitAsync(Wait.DefaultTimeout);
        Assert.True(Assert.Single(answer.Results!).Ok);
    }

    /// <summary>What the edge compiles policies with, for an edge.yaml that has none.</summary>
    private static Warren.Edge.Policy.PolicyServices NoPolicyServices(TimeProvider time) => new(time,
        new Microsoft.AspNetCore.Authentication.AuthenticationSchemeProvider(Microsoft.Extensions.Options.Options.Create(new Microsoft.AspNetCore.Authentication.AuthenticationOptions())),
        new Microsoft.Extensions.Options.OptionsCache<Microsoft.AspNetCore.Authentication.JwtBearer.JwtBearerOptions>(),
        new Microsoft.Extensions.Options.OptionsCache<Microsoft.AspNetCore.Authentication.OpenIdConnect.OpenIdConnectOptions>(),
        new Microsoft.Extensions.Options.OptionsCache<Microsoft.AspNetCore.Authentication.Cookies.CookieAuthenticationOptions>(),
        new Microsoft.AspNetCore.DataProtection.EphemeralDataProtectionProvider(),
        Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance);
}
