using System.Net;
using System.Net.Http;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Xunit.Abstractions;

namespace Warren.OperationsTests;

/// <summary>
/// The runtime API on the edge's admin listener (docs/operations.md, "The admin API"): every endpoint refuses a
/// request without the admin token (and changes nothing), and does its work with it.
/// </summary>
public sealed class AdminApiTests(ITestOutputHelper output) : LoggedTest(output)
{
    private static readonly string AdminToken = WarrenHarness.NewToken();

    [Fact]
    public async Task Every_endpoint_answers_401_without_the_admin_token_or_with_a_wrong_one_and_changes_nothing()
    {
        await using var tunnel = await StartAsync();
        var session = Assert.Single(tunnel.Edge.State.Sessions);
        (HttpMethod Method, string Path, string? Body)[] endpoints =
        [
            (HttpMethod.Get, "/api/sessions", null),
            (HttpMethod.Delete, $"/api/sessions/{session.Id}", null),
            (HttpMethod.Get, "/api/services", null),
            (HttpMethod.Get, "/api/tokens", null),
            (HttpMethod.Post, "/api/tokens", """{"name":"sneaky","allow_hosts":["sneaky.test"]}"""),
            (HttpMethod.Delete, "/api/tokens/sneaky", null),
            (HttpMethod.Post, "/api/reload", null),
            (HttpMethod.Post, "/api/services/app/drain", null),
            (HttpMethod.Delete, "/api/services/app/drain", null),
            (HttpMethod.Put, "/api/services/app/maintenance", null),
            (HttpMethod.Delete, "/api/services/app/maintenance", null),
        ];
        foreach (var token in new string?[] { null, WarrenHarness.NewToken() })
        {
            foreach (var (method, path, body) in endpoints)
            {
                using var response = await SendAsync(tunnel, method, path, body, token);
                Assert.True(response.StatusCode == HttpStatusCode.Unauthorized, $"{method} {path} with {(token is null ? "no token" : "a wrong token")}: {response.StatusCode}");
            }
        }

        Assert.Contains(tunnel.Edge.State.Sessions, s => s.Id == session.Id);
        Assert.All(tunnel.Edge.State.Routes.AllEntries, s => Assert.Null(s.Control));
        using var tokens = await SendAsync(tunnel, HttpMethod.Get, "/api/tokens", null, AdminToken);
        Assert.DoesNotContain("sneaky", await tokens.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task With_the_token_sessions_and_services_are_listed_a_created_token_serves_at_once_revoking_it_closes_its_session_and_a_kicked_agent_comes_back()
    {
        await using var tunnel = await StartAsync();
        var session = Assert.Single(tunnel.Edge.State.Sessions);

        using (var sessions = await SendAsync(tunnel, HttpMethod.Get, "/api/sessions", null, AdminToken))
        {
            Assert.Equal(HttpStatusCode.OK, sessions.StatusCode);
            var listed = Assert.Single(JsonDocument.Parse(await sessions.Content.ReadAsStringAsync()).RootElement.EnumerateArray());
            Assert.Equal(session.Id, listed.GetProperty("id").GetInt64());
            Assert.Equal("app", Assert.Single(listed.GetProperty("services").EnumerateArray()).GetString());
        }
        using (var services = await SendAsync(tunnel, HttpMethod.Get, "/api/services", null, AdminToken))
        {
            var listed = Assert.Single(JsonDocument.Parse(await services.Content.ReadAsStringAsync()).RootElement.EnumerateArray());
            Assert.Equal("app", listed.GetProperty("name").GetString());
            Assert.Equal(WarrenHarness.AppHost, Assert.Single(listed.GetProperty("hostnames").EnumerateArray()).GetString());
        }

        // Create: refused when invalid or taken; else the secret, shown once, works at once.
        using (var invalid = await SendAsync(tunnel, HttpMethod.Post, "/api/tokens", """{"name":"ci","allow_hosts":["*"]}""", AdminToken))
        {
            Assert.Equal(HttpStatusCode.BadRequest, invalid.StatusCode);
            Assert.Contains("allow_hosts", await invalid.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }
        using (var notJson = await SendAsync(tunnel, HttpMethod.Post, "/api/tokens", "{", AdminToken))
        {
            Assert.Equal(HttpStatusCode.BadRequest, notJson.StatusCode);
        }
        string secret;
        using (var created = await SendAsync(tunnel, HttpMethod.Post, "/api/tokens", """{"name":"ci","allow_hosts":["ci.test"]}""", AdminToken))
        {
            Assert.Equal(HttpStatusCode.Created, created.StatusCode);
            secret = JsonDocument.Parse(await created.Content.ReadAsStringAsync()).RootElement.GetProperty("token").GetString()!;
        }
        using (var again = await SendAsync(tunnel, HttpMethod.Post, "/api/tokens", """{"name":"ci","allow_hosts":["ci.test"]}""", AdminToken))
        {
            Assert.Equal(HttpStatusCode.Conflict, again.StatusCode);
        }
        await tunnel.StartOtherAgentAsync(secret, "ci-agent", [tunnel.HttpService("ci", "ci.test")]);
        using (var served = await tunnel.GetAsync("/echo", "ci.test"))
        {
            Assert.Equal(HttpStatusCode.OK, served.StatusCode);
        }
        using (var list = await SendAsync(tunnel, HttpMethod.Get, "/api/tokens", null, AdminToken))
        {
            var ci = JsonDocument.Parse(await list.Content.ReadAsStringAsync()).RootElement.EnumerateArray().Single(t => t.GetProperty("name").GetString() == "ci");
            Assert.Equal("active", ci.GetProperty("state").GetString());
            Assert.Equal("database", ci.GetProperty("source").GetString());
        }

        // Revoke: its session closes now; an edge.yaml token cannot be revoked here.
        using (var yamlToken = await SendAsync(tunnel, HttpMethod.Delete, $"/api/tokens/{tunnel.EdgeConfig.Tokens[0].Name}", null, AdminToken))
        {
            Assert.Equal(HttpStatusCode.Conflict, yamlToken.StatusCode);
        }
        using (var revoked = await SendAsync(tunnel, HttpMethod.Delete, "/api/tokens/ci", null, AdminToken))
        {
            Assert.Equal(HttpStatusCode.NoContent, revoked.StatusCode);
        }
        await Wait.UntilAsync(() => tunnel.Edge.State.Sessions.All(s => s.TokenName != "ci"), "the revoked token's session is closed");
        using (var unknown = await SendAsync(tunnel, HttpMethod.Delete, "/api/tokens/ci", null, AdminToken))
        {
            Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        }

        // Kick: the session is closed, and its agent connects again on its own.
        using (var kicked = await SendAsync(tunnel, HttpMethod.Delete, $"/api/sessions/{session.Id}", null, AdminToken))
        {
            Assert.Equal(HttpStatusCode.NoContent, kicked.StatusCode);
        }
        await Wait.UntilAsync(() => tunnel.Edge.State.Sessions.All(s => s.Id != session.Id), "the kicked session is gone");
        using (var missing = await SendAsync(tunnel, HttpMethod.Delete, $"/api/sessions/{session.Id}", null, AdminToken))
        {
            Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        }
        await Wait.UntilAsync(() => tunnel.Edge.State.Sessions.Any(s => s.TokenName == session.TokenName && s.Services.Count == 1), "the kicked agent connected again");

        // Reload: this edge was built in code, with no file to read again.
        using var reload = await SendAsync(tunnel, HttpMethod.Post, "/api/reload", null, AdminToken);
        Assert.Equal(HttpStatusCode.UnprocessableEntity, reload.StatusCode);
        Assert.Contains("without a configuration file", await reload.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    private Task<WarrenHarness> StartAsync() => WarrenHarness.StartAsync(Log, new HarnessOptions
    {
        ConfigureEdge = c => c with { AdminToken = AdminToken },
    });

    private static async Task<HttpResponseMessage> SendAsync(WarrenHarness tunnel, HttpMethod method, string path, string? body, string? token)
    {
        using var request = new HttpRequestMessage(method, $"http://127.0.0.1:{tunnel.Edge.AdminPort}{path}");
        if (token is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }
        if (body is not null)
        {
            request.Content = new StringContent(body, Encoding.UTF8, "application/json");
        }
        return await tunnel.Client.SendAsync(request);
    }
}
