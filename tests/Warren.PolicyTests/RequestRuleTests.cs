using System.Net;
using System.Net.Http;
using Warren.Configuration;
using Xunit.Abstractions;

namespace Warren.PolicyTests;

/// <summary>Request and response rules (docs/policy.md): headers, path prefixes, HTTPS redirect, CORS, maintenance, error pages, body size, timeout.</summary>
public sealed class RequestRuleTests(ITestOutputHelper output) : PolicyTest(output)
{
    [Fact]
    public async Task Header_rules_and_path_prefixes_reach_the_service_and_the_client_as_configured()
    {
        var harness = await StartAsync(new PolicyConfig
        {
            StripPrefix = "/public",
            AddPrefix = "/echo",
            RequestHeaders = new HeaderRulesConfig { Set = new Dictionary<string, string> { ["X-Env"] = "prod" }, Remove = ["X-Debug"] },
            ResponseHeaders = new HeaderRulesConfig { Set = new Dictionary<string, string> { ["Strict-Transport-Security"] = "max-age=63072000" }, Remove = ["Content-Type"] },
        });

        using var response = await SendAsync(harness, "/public?q=1", r =>
        {
            r.Headers.Add("X-Debug", "1");
            r.Headers.Add("X-Env", "client-said");
        });
        var body = await response.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.StartsWith("GET /echo?q=1\n", body, StringComparison.Ordinal);
        Assert.Contains("\nX-Env: prod\n", body, StringComparison.Ordinal);
        Assert.DoesNotContain("X-Debug", body, StringComparison.Ordinal);
        Assert.DoesNotContain("client-said", body, StringComparison.Ordinal);
        Assert.Equal("max-age=63072000", Assert.Single(response.Headers.GetValues("Strict-Transport-Security")));
        Assert.Null(response.Content.Headers.ContentType);

        // A path outside the stripped prefix is forwarded as it is, with the added prefix.
        using var other = await SendAsync(harness, "/");
        Assert.StartsWith("GET /echo\n", await other.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Https_redirect_answers_plain_http_with_308_to_the_same_url()
    {
        var harness = await StartAsync(new PolicyConfig { HttpsRedirect = true });
        using var response = await SendAsync(harness, "/a/b?c=d");
        Assert.Equal(HttpStatusCode.PermanentRedirect, response.StatusCode);
        Assert.Equal(new Uri("https://app.test/a/b?c=d"), response.Headers.Location);
    }

    [Fact]
    public async Task Maintenance_answers_503_with_the_page_and_retry_after_without_reaching_the_service()
    {
        var harness = await StartAsync(new PolicyConfig { Maintenance = new MaintenanceConfig { Enabled = true, Page = "<h1>back soon</h1>" } });
        using var response = await SendAsync(harness, "/echo");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal("<h1>back soon</h1>", await response.Content.ReadAsStringAsync());
        Assert.Equal(TimeSpan.FromSeconds(300), response.Headers.RetryAfter?.Delta);
    }

    [Fact]
    public async Task Cors_preflight_is_answered_by_the_edge_and_allowed_origins_get_the_headers()
    {
        var harness = await StartAsync(new PolicyConfig
        {
            Cors = new CorsConfig { Origins = ["https://app.example.com"], Methods = ["GET", "PUT"], Headers = ["X-Token"], Credentials = true },
            BasicAuth = new BasicAuthConfig { Users = [Htpasswd("alice", "pw")] },
        });

        using var preflight = await SendAsync(harness, "/echo", r =>
        {
            r.Headers.Add("Origin", "https://app.example.com");
            r.Headers.Add("Access-Control-Request-Method", "PUT");
        }, HttpMethod.Options);
        Assert.Equal(HttpStatusCode.NoContent, preflight.StatusCode);
        Assert.Equal("https://app.example.com", preflight.Headers.GetValues("Access-Control-Allow-Origin").Single());
        Assert.Equal("GET, PUT", preflight.Headers.GetValues("Access-Control-Allow-Methods").Single());
        Assert.Equal("X-Token", preflight.Headers.GetValues("Access-Control-Allow-Headers").Single());
        Assert.Equal("true", preflight.Headers.GetValues("Access-Control-Allow-Credentials").Single());

        using var actual = await SendAsync(harness, "/echo", r =>
        {
            r.Headers.Add("Origin", "https://app.example.com");
            r.Headers.Authorization = Basic("alice", "pw");
        });
        Assert.Equal(HttpStatusCode.OK, actual.StatusCode);
        Assert.Equal("https://app.example.com", actual.Headers.GetValues("Access-Control-Allow-Origin").Single());

        using var foreign = await SendAsync(harness, "/echo", r =>
        {
            r.Headers.Add("Origin", "https://evil.example");
            r.Headers.Add("Access-Control-Request-Method", "PUT");
        }, HttpMethod.Options);
        Assert.Equal(HttpStatusCode.Unauthorized, foreign.StatusCode); // not a preflight the edge answers: authentication applies
        Assert.False(foreign.Headers.Contains("Access-Control-Allow-Origin"));
    }

    [Fact]
    public async Task Error_pages_replace_the_edges_own_502_and_503()
    {
        var harness = await StartAsync(null, startAgent: false);
        var pages = new Dictionary<string, string> { ["502"] = "<p>backend down</p>", ["503"] = "<p>agent away</p>" };
        // The target refuses connections (nothing listens on the closed port): the agent's dial fails, 502.
        var closed = new Uri($"http://127.0.0.1:{ReservePort()}");
        await harness.StartAgentAsync([harness.HttpService("app", WarrenHarness.AppHost, closed) with { Policy = new PolicyConfig { ErrorPages = pages } }]);

        using var badGateway = await SendAsync(harness, "/echo");
        Assert.Equal(HttpStatusCode.BadGateway, badGateway.StatusCode);
        Assert.Equal("<p>backend down</p>", await badGateway.Content.ReadAsStringAsync());

        await harness.StopAgentAsync();
        using var unavailable = await SendAsync(harness, "/echo");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, unavailable.StatusCode);
        Assert.Equal("<p>agent away</p>", await unavailable.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Timeout_answers_504_when_the_response_has_not_started_and_does_not_cut_a_slow_body()
    {
        var harness = await StartAsync(new PolicyConfig { Timeout = TimeSpan.FromSeconds(2) });
        using var slow = await SendAsync(harness, "/slow?ms=40000");
        Assert.Equal(HttpStatusCode.GatewayTimeout, slow.StatusCode);

        // The first event at once, then four more a second apart: longer than the timeout, and not cut by it.
        using var stream = await SendAsync(harness, "/stream?count=5&intervalMs=1000");
        Assert.Equal(HttpStatusCode.OK, stream.StatusCode);
        var text = await stream.Content.ReadAsStringAsync();
        Assert.Equal(5, text.Split('\n').Count(l => l.StartsWith("data:", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task Max_request_body_size_refuses_a_larger_body_with_413()
    {
        var harness = await StartAsync(new PolicyConfig { MaxRequestBodySize = 1000 });
        using var small = await SendAsync(harness, "/echo", r => r.Content = new ByteArrayContent(new byte[1000]), HttpMethod.Post);
        Assert.Equal(HttpStatusCode.OK, small.StatusCode);
        using var large = await SendAsync(harness, "/echo", r => r.Content = new ByteArrayContent(new byte[1001]), HttpMethod.Post);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, large.StatusCode);
    }
}
