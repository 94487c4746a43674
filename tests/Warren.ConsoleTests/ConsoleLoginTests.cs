using System.Net;
using System.Net.Http;
using Warren.Edge.Tokens;
using Xunit.Abstractions;

namespace Warren.ConsoleTests;

/// <summary>
/// The console's login (docs/console.md, "Logging in"; docs/security.md, "The admin listener"): nothing without the
/// admin token or the session cookie it buys, no change through the cookie without the antiforgery token, no framing.
/// </summary>
public sealed class ConsoleLoginTests(ITestOutputHelper output) : LoggedTest(output)
{
    private static readonly string AdminToken = "adm-" + WarrenHarness.NewToken();

    private static readonly string[] Pages =
        ["/", "/console", "/console/requests", "/console/traffic", "/console/tokens", "/console/services/app", "/console/sessions/1", "/console/inspector/1"];

    private static readonly string[] DataUrls = ["/console/api/requests", "/console/events?scope=overview", "/api/status", "/metrics"];

    private static readonly string[] Posts =
        ["/console/tokens", "/console/tokens/tests/revoke", "/console/services/app/inspect", "/console/inspector/1/replay", "/console/logout"];

    private Task<WarrenHarness> StartAsync(string? adminToken = null) =>
        WarrenHarness.StartAsync(Log, new HarnessOptions { ConfigureEdge = c => c with { AdminToken = adminToken ?? AdminToken } });

    [Fact]
    public async Task Every_console_url_needs_the_login_pages_redirect_to_it_and_the_rest_answer_401()
    {
        var edge = Own(await StartAsync());
        using var anonymous = ConsoleClient.For(edge);

        foreach (var page in Pages)
        {
            using var response = await anonymous.Http.GetAsync(page);
            Assert.True(response.StatusCode == HttpStatusCode.Redirect, $"GET {page} without a login: {(int)response.StatusCode}, not a redirect");
            Assert.StartsWith("/console/login?return=", response.Headers.Location!.OriginalString, StringComparison.Ordinal);
        }
        foreach (var url in DataUrls)
        {
            using var response = await anonymous.Http.GetAsync(url);
            Assert.True(response.StatusCode == HttpStatusCode.Unauthorized, $"GET {url} without a login: {(int)response.StatusCode}");
        }
        foreach (var url in Posts)
        {
            using var response = await anonymous.PostFormAsync(url, new Dictionary<string, string> { ["name"] = "x" });
            Assert.True(response.StatusCode == HttpStatusCode.Unauthorized, $"POST {url} without a login: {(int)response.StatusCode}");
        }
        // What the login page itself needs is open, and holds no data.
        Assert.Equal(HttpStatusCode.OK, (await anonymous.Http.GetAsync("/console/login")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await anonymous.Http.GetAsync("/console/assets/console.css")).StatusCode);

        // A wrong token buys nothing; the right one a cookie that opens every page, HttpOnly and SameSite=Strict.
        using (var wrong = await anonymous.LoginAsync(AdminToken + "x"))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, wrong.StatusCode);
        }
        Assert.Equal(HttpStatusCode.Redirect, (await anonymous.Http.GetAsync("/console")).StatusCode);
        using (var login = await anonymous.LoginAsync(AdminToken, "/console/tokens"))
        {
            Assert.Equal(HttpStatusCode.Redirect, login.StatusCode);
            Assert.Equal("/console/tokens", login.Headers.Location!.OriginalString);
            var cookie = Assert.Single(login.Headers.GetValues("Set-Cookie"), c => c.StartsWith("warren_edge_session=", StringComparison.Ordinal));
            Assert.Contains("httponly", cookie, StringComparison.OrdinalIgnoreCase);
            Assert.Contains("samesite=strict", cookie, StringComparison.OrdinalIgnoreCase);
        }
        foreach (var page in Pages.Where(p => p is "/console" or "/console/requests" or "/console/traffic" or "/console/tokens" or "/console/services/app"))
        {
            using var response = await anonymous.Http.GetAsync(page);
            Assert.True(response.StatusCode == HttpStatusCode.OK, $"GET {page} logged in: {(int)response.StatusCode}");
            // Clickjacking: no page may be framed, by today's browsers (CSP) or older ones (X-Frame-Options).
            Assert.Contains("frame-ancestors 'none'", response.Headers.GetValues("Content-Security-Policy").Single(), StringComparison.Ordinal);
            Assert.Equal("DENY", response.Headers.GetValues("X-Frame-Options").Single());
        }
        using (var api = await anonymous.Http.GetAsync("/console/api/requests"))
        {
            Assert.Equal(HttpStatusCode.OK, api.StatusCode);
        }

        // Scripts keep using the bearer token, as warren status does.
        using (var bearer = await ConsoleClient.GetWithBearerAsync(edge.Client, $"http://127.0.0.1:{edge.Edge.AdminPort}/console/api/requests", AdminToken))
        {
            Assert.Equal(HttpStatusCode.OK, bearer.StatusCode);
        }

        // Logging out ends the cookie's use.
        var csrf = await anonymous.CsrfAsync();
        using (var logout = await anonymous.PostFormAsync("/console/logout", new Dictionary<string, string> { ["__csrf"] = csrf }))
        {
            Assert.Equal(HttpStatusCode.Redirect, logout.StatusCode);
        }
        Assert.Equal(HttpStatusCode.Redirect, (await anonymous.Http.GetAsync("/console")).StatusCode);
    }

    [Fact]
    public async Task A_cross_site_post_with_the_session_cookie_but_no_antiforgery_token_is_refused()
    {
        var edge = Own(await StartAsync());
        using var browser = ConsoleClient.For(edge);
        Assert.Equal(HttpStatusCode.Redirect, (await browser.LoginAsync(AdminToken)).StatusCode);

        // What a page of another site can make the browser send: the cookie, the form fields, no antiforgery token.
        var fields = new Dictionary<string, string> { ["name"] = "forged", ["hosts"] = "evil.test" };
        using (var forged = await browser.PostFormAsync("/console/tokens", fields))
        {
            Assert.Equal(HttpStatusCode.BadRequest, forged.StatusCode);
        }
        using (var wrongToken = await browser.PostFormAsync("/console/tokens", new Dictionary<string, string>(fields) { ["__csrf"] = "CfDJ8" + new string('A', 100) }))
        {
            Assert.Equal(HttpStatusCode.BadRequest, wrongToken.StatusCode);
        }
        using (var store = new TokenStore(edge.DataDirectory))
        {
            Assert.DoesNotContain(store.List(), t => t.Name == "forged");
        }

        // A login form posted from elsewhere (login CSRF) is refused the same way.
        using var other = ConsoleClient.For(edge);
        using (var loginCsrf = await other.PostFormAsync("/console/login", new Dictionary<string, string> { ["token"] = AdminToken }))
        {
            Assert.Equal(HttpStatusCode.BadRequest, loginCsrf.StatusCode);
        }

        // The console's own form, with the token from its page, works.
        fields["__csrf"] = await browser.CsrfAsync("/console/tokens");
        using (var created = await browser.PostFormAsync("/console/tokens", fields))
        {
            Assert.Equal(HttpStatusCode.OK, created.StatusCode);
            Assert.Contains("id=\"new-secret\">wrn_", await created.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }
        using (var store = new TokenStore(edge.DataDirectory))
        {
            Assert.Contains(store.List(), t => t.Name == "forged" && t.RevokedAt is null);
        }
    }

    [Fact]
    public async Task Without_an_admin_token_the_console_is_off_and_no_browser_page_can_change_state()
    {
        var edge = Own(await WarrenHarness.StartAsync(Log));
        using var client = ConsoleClient.For(edge);
        foreach (var page in Pages.Append("/console/login"))
        {
            using var response = await client.Http.GetAsync(page);
            Assert.True(response.StatusCode == HttpStatusCode.Forbidden, $"GET {page} without admin_token: {(int)response.StatusCode}");
        }
        foreach (var url in Posts.Append("/console/login"))
        {
            using var response = await client.PostFormAsync(url, new Dictionary<string, string> { ["token"] = "anything" });
            Assert.True(response.StatusCode == HttpStatusCode.Forbidden, $"POST {url} without admin_token: {(int)response.StatusCode}");
        }
        // A loopback listener's long-standing reads stay open (docs/security.md), and scripts may still POST to the
        // API (warren reload); the same POST from a browser page (it carries Origin) is refused.
        Assert.Equal(HttpStatusCode.OK, (await client.Http.GetAsync("/api/status")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await client.Http.GetAsync("/metrics")).StatusCode);
        using (var fromPage = new HttpRequestMessage(HttpMethod.Post, "/api/reload"))
        {
            fromPage.Headers.Add("Origin", "http://evil.example");
            using var refused = await client.Http.SendAsync(fromPage);
            Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
        }
        using (var fromScript = await client.Http.PostAsync("/api/reload", null))
        {
            Assert.NotEqual(HttpStatusCode.Forbidden, fromScript.StatusCode);
        }
    }
}
