using System.Net;
using Warren.Configuration;
using Warren.Protocol.Tunnel;
using Warren.SecurityTests.Harness;
using Xunit.Abstractions;

namespace Warren.SecurityTests;

/// <summary>
/// One hostname syntax and one normal form for ownership, routing and certificates (HostNames; docs/security.md,
/// "Hostnames"): a look-alike never reaches another token's hostname, and the Host header is routed as sent.
/// </summary>
public sealed class HostnameTests(ITestOutputHelper output) : SecurityTest(output)
{
    [Fact]
    public async Task Unicode_look_alike_of_another_tokens_hostname_is_refused_and_traffic_stays_with_the_owner()
    {
        var bankToken = WarrenHarness.NewToken();
        var wildToken = WarrenHarness.NewToken();
        var edge = await StartEdgeAsync(new HarnessOptions
        {
            ExtraTokens =
            [
                WarrenHarness.Grant("bank", bankToken, ["bank.wild.test"]),
                WarrenHarness.Grant("wild", wildToken, ["*.wild.test"]),
            ],
        });
        var transfer = await StartTransferAsync(edge);
        await edge.StartOtherAgentAsync(bankToken, "bank-agent", [edge.HttpService("bank", "bank.wild.test")]);

        await using var raw = await ConnectRawAsync(edge);
        Assert.True((await raw.AuthenticateAsync(wildToken))!.Ok);
        var results = await raw.RegisterAsync(
            new ServiceRegistration { Name = "kelvin", Kind = "http", Hostnames = ["ban\u212A.wild.test"] },   // KELVIN SIGN
            new ServiceRegistration { Name = "ulabel", Kind = "http", Hostnames = ["b\u00fccher.wild.test"] },
            new ServiceRegistration { Name = "upper", Kind = "http", Hostnames = ["BANK.wild.test"] },
            new ServiceRegistration { Name = "fine", Kind = "http", Hostnames = ["Mine.Wild.Test"] });

        Assert.False(results[0].Ok);
        Assert.Equal("'ban\\u212a.wild.test' is not ASCII; write an internationalised name as its IDNA A-label form ('xn--ban-0k1a.wild.test')", results[0].Error);
        Assert.False(results[1].Ok);
        Assert.Contains("('xn--bcher-kva.wild.test')", results[1].Error, StringComparison.Ordinal);
        // Case is normalised once, so the upper-case spelling meets the owner's hostname and is refused as such.
        Assert.False(results[2].Ok);
        Assert.Equal("hostname bank.wild.test is owned by another token", results[2].Error);
        Assert.True(results[3].Ok);
        Assert.Equal("wild", edge.Edge.State.Routes.MatchHttp("mine.wild.test", "/")!.Owner);

        var route = edge.Edge.State.Routes.MatchHttp("bank.wild.test", "/")!;
        Assert.Equal("bank", route.Owner);
        Assert.All(route.Sessions, s => Assert.Equal("bank", s.TokenName));
        Assert.Equal(HttpStatusCode.OK, (await GetAsync(edge, "bank.wild.test", "/echo")).Status);

        await transfer.CompleteAsync();
        await AssertStillServesAsync(edge);
    }

    [Fact]
    public async Task Punycode_hostname_is_routed_by_its_A_label_as_sent()
    {
        var token = WarrenHarness.NewToken();
        var edge = await StartEdgeAsync(new HarnessOptions { ExtraTokens = [WarrenHarness.Grant("idn", token, ["*.wild.test"])] });
        var transfer = await StartTransferAsync(edge);
        await edge.StartOtherAgentAsync(token, "idn-agent", [edge.HttpService("books", "xn--bcher-kva.wild.test")]);

        // Kestrel's HttpRequest.Host decodes this to "bücher.wild.test"; the route table holds what was registered.
        var (status, body) = await GetAsync(edge, "xn--bcher-kva.wild.test", "/echo");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Contains("Host: xn--bcher-kva.wild.test\n", body, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, (await GetAsync(edge, "XN--BCHER-KVA.wild.test:80", "/echo")).Status);

        await transfer.CompleteAsync();
        await AssertStillServesAsync(edge);
    }

    [Fact]
    public async Task Policy_of_a_punycode_hostname_applies_to_the_requests_that_reach_it()
    {
        var token = WarrenHarness.NewToken();
        var edge = await StartEdgeAsync(new HarnessOptions { ExtraTokens = [WarrenHarness.Grant("idn", token, ["*.wild.test"])] });
        var transfer = await StartTransferAsync(edge);
        await edge.StartOtherAgentAsync(token, "idn-agent",
            [edge.HttpService("books", "xn--bcher-kva.wild.test") with { Policy = new PolicyConfig { Maintenance = new MaintenanceConfig { Enabled = true } } }]);

        // The policy step looked the route up by the decoded host ("bücher.wild.test"), found nothing and let the
        // request through, while forwarding routed it by the A-label: the service's policy was skipped.
        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await GetAsync(edge, "xn--bcher-kva.wild.test", "/echo")).Status);

        await transfer.CompleteAsync();
        await AssertStillServesAsync(edge);
    }

    [Fact]
    public async Task Malformed_or_undecodable_host_is_answered_without_an_exception()
    {
        var edge = await StartEdgeAsync();
        var transfer = await StartTransferAsync(edge);

        // A well-formed name nobody registered: 404.
        Assert.Equal(404, RawHttp.StatusOf(await RawHttp.SendAsync(edge.HttpPort, "GET / HTTP/1.1\r\nHost: nobody.test:8080\r\n\r\n")));
        // Not a hostname: 400 before routing. "xn--app-test" is not valid Punycode; decoding it threw on every request
        // (500 and a stack trace per anonymous request).
        foreach (var host in new[] { "xn--app-test", "xn--app-test.test:8080", "a_b.test", "good.test:http", "*.test", "a!b.test" })
        {
            Assert.Equal(400, RawHttp.StatusOf(await RawHttp.SendAsync(edge.HttpPort, $"GET / HTTP/1.1\r\nHost: {host}\r\n\r\n")));
        }
        await Log.WaitForAsync(Wait.DefaultTimeout, "[BadHost]", "xn--app-test");
        Assert.DoesNotContain(Log.Lines, l => l.Contains("Exception", StringComparison.Ordinal) || l.Contains(" fail ", StringComparison.Ordinal));

        await transfer.CompleteAsync();
        await AssertStillServesAsync(edge);
    }

    [Theory]
    [InlineData("app.example.com", true, "app.example.com")]
    [InlineData("App.Example.COM", true, "app.example.com")]
    [InlineData("*.example.com", true, "*.example.com")]
    [InlineData("xn--bcher-kva.example", true, "xn--bcher-kva.example")]
    [InlineData("xn--app-test", false, null)]
    [InlineData("xn--a.example", false, null)]
    [InlineData("b\u00fccher.example", false, null)]
    [InlineData("ban\u212A.example", false, null)]
    [InlineData("app.example.com\n", false, null)]
    [InlineData("-app.example.com", false, null)]
    [InlineData("10.0.0.1", false, null)]
    [InlineData("", false, null)]
    public void Hostnames_have_one_syntax_and_one_normal_form(string text, bool valid, string? normalized)
    {
        Assert.Equal(valid, HostNames.TryNormalize(text, allowWildcard: true, out var result, out var problem));
        Assert.Equal(normalized, result);
        if (!valid)
        {
            Assert.DoesNotContain('\n', problem!);
            Assert.True(problem!.All(c => c is >= ' ' and <= '~'), problem);
        }
    }
}
