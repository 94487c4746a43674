using System.Net;
using System.Net.Http;
using Warren.Configuration;
using Xunit.Abstractions;

namespace Warren.PolicyTests;

/// <summary>
/// oidc (docs/policy.md, "OpenID Connect login") end to end: a real OpenID Connect provider (OpenIddict) on loopback,
/// the real authorization code flow with PKCE driven as a browser drives it (redirects, cookies, the provider's login
/// form), through the tunnel to the sample backend, which echoes the headers it received.
/// </summary>
public sealed class OidcLoginTests(ITestOutputHelper output) : PolicyTest(output)
{
    private const string ClientId = "warren-edge";
    private const string ClientSecret = "oidc-client-secret-0123456789";

    private static readonly TestUser Alice = new("alice", "alice-pw", "sub-alice", "alice@example.com", true, ["admins", "staff"]);
    private static readonly TestUser Bob = new("bob", "bob-pw", "sub-bob", "bob@partner.test", true, ["ops"]);
    private static readonly TestUser Carol = new("carol", "carol-pw", "sub-carol", "carol@example.com", false, []);
    private static readonly TestUser Dave = new("dave", "dave-pw", "sub-dave", "dave@partner.test", true, ["staff"]);

    private static OidcConfig Login(TestOidcProvider provider) => new()
    {
        Issuer = provider.Issuer,
        ClientId = ClientId,
        ClientSecret = ClientSecret,
        Scopes = ["openid", "email", "profile", "groups"],
        IdentityHeaders = new Dictionary<string, string> { ["X-Email"] = "email", ["X-User"] = "sub", ["X-Groups"] = "groups" },
    };

    private static Task RegisterAsync(TestOidcProvider provider, params string[] sites) => provider.RegisterClientAsync(ClientId, ClientSecret,
        sites.Select(s => new Uri(s + "/_warren/oidc/callback")), sites.Select(s => new Uri(s + "/_warren/oidc/logout/done")));

    private static void Forge(HttpRequestMessage request)
    {
        request.Headers.Add("X-Email", "mallory@example.com");
        request.Headers.Add("X-User", "mallory");
    }

    [Fact]
    public async Task Login_runs_the_code_flow_with_pkce_the_service_sees_the_user_in_its_headers_never_a_forged_one_and_logout_ends_both_sessions()
    {
        var provider = Own(await TestOidcProvider.StartAsync(Alice));
        var harness = await StartAsync(new PolicyConfig { Oidc = Login(provider) with { AllowedDomains = ["example.com"] } });
        var site = $"http://app.test:{harness.HttpPort}";
        await RegisterAsync(provider, site);
        using var browser = new OidcBrowser(harness);

        // No session: 302 to the provider's authorization endpoint, code flow with a PKCE S256 challenge.
        using var first = await browser.GetAsync(new Uri(site + "/echo?x=1"), Forge);
        Assert.Equal(HttpStatusCode.Found, first.StatusCode);
        var authorize = first.Headers.Location!;
        Assert.StartsWith(provider.Issuer + "connect/authorize?", authorize.AbsoluteUri, StringComparison.Ordinal);
        var query = System.Web.HttpUtility.ParseQueryString(authorize.Query);
        Assert.Equal("code", query["response_type"]);
        Assert.Equal("S256", query["code_challenge_method"]);
        Assert.False(string.IsNullOrEmpty(query["code_challenge"]));
        Assert.Equal(ClientId, query["client_id"]);
        Assert.Equal(site + "/_warren/oidc/callback", query["redirect_uri"]);

        // The provider asks the user to sign in, then sends the browser back with a code; the edge redeems it with
        // the PKCE verifier, sets its session cookie and returns the browser to the page it asked for.
        using var form = await browser.FollowAsync(first, Forge);
        Assert.Equal(new Uri(provider.Issuer), new Uri(form.RequestMessage!.RequestUri!, "/"));
        using var page = await browser.SignInAsync(form, "alice", "alice-pw", Forge);
        var body = await page.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Equal(site + "/echo?x=1", page.RequestMessage!.RequestUri!.AbsoluteUri);
        Assert.Contains("\nX-Email: alice@example.com\n", body, StringComparison.Ordinal);
        Assert.Contains("\nX-User: sub-alice\n", body, StringComparison.Ordinal);
        Assert.Contains("\nX-Groups: admins,staff\n", body, StringComparison.Ordinal);
        Assert.DoesNotContain("mallory", body, StringComparison.Ordinal);
        Assert.DoesNotContain("_warren_oidc", body, StringComparison.Ordinal); // the session cookie stays at the edge

        // The session holds: no new login, the forged headers are replaced again.
        using var again = await browser.GetAsync(new Uri(site + "/echo"), Forge);
        var againBody = await again.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.OK, again.StatusCode);
        Assert.Contains("\nX-User: sub-alice\n", againBody, StringComparison.Ordinal);
        Assert.DoesNotContain("mallory", againBody, StringComparison.Ordinal);
        Assert.Equal(1, provider.Logins);

        // Logout ends the edge's session and the provider's: the next visit goes back to the provider's login form.
        using var logout = await browser.GetAsync(new Uri(site + "/_warren/oidc/logout"));
        Assert.Equal(HttpStatusCode.Found, logout.StatusCode);
        Assert.StartsWith(provider.Issuer + "connect/logout?", logout.Headers.Location!.AbsoluteUri, StringComparison.Ordinal);
        using var afterLogout = await browser.FollowAsync(logout);
        Assert.Equal(HttpStatusCode.OK, afterLogout.StatusCode);
        Assert.Equal("/login", afterLogout.RequestMessage!.RequestUri!.AbsolutePath);
        Assert.Contains(browser.Visited, u => u.AbsoluteUri.StartsWith(site + "/_warren/oidc/logout/done", StringComparison.Ordinal));
        using var anonymous = await browser.GetAsync(new Uri(site + "/echo"));
        Assert.Equal(HttpStatusCode.Found, anonymous.StatusCode);
        Assert.StartsWith(provider.Issuer, anonymous.Headers.Location!.AbsoluteUri, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Allow_lists_let_in_a_listed_domain_or_group_and_refuse_everyone_else_with_403_after_the_login()
    {
        var provider = Own(await TestOidcProvider.StartAsync(Alice, Bob, Carol, Dave));
        var harness = await StartAsync(new PolicyConfig
        {
            Oidc = Login(provider) with { AllowedEmails = ["dave@partner.test"], AllowedDomains = ["example.com"], AllowedGroups = ["ops"] },
        });
        var site = $"http://app.test:{harness.HttpPort}";
        await RegisterAsync(provider, site);

        async Task<(HttpStatusCode Status, string Body)> VisitAsync(TestUser user)
        {
            using var browser = new OidcBrowser(harness);
            using var form = await browser.FollowAsync(await browser.GetAsync(new Uri(site + "/echo")));
            using var page = await browser.SignInAsync(form, user.Name, user.Password);
            return (page.StatusCode, await page.Content.ReadAsStringAsync());
        }

        var alice = await VisitAsync(Alice); // her domain
        Assert.Equal(HttpStatusCode.OK, alice.Status);
        Assert.Contains("\nX-Email: alice@example.com\n", alice.Body, StringComparison.Ordinal);
        var bob = await VisitAsync(Bob); // his group
        Assert.Equal(HttpStatusCode.OK, bob.Status);
        Assert.Contains("\nX-Groups: ops\n", bob.Body, StringComparison.Ordinal);
        var dave = await VisitAsync(Dave); // his address
        Assert.Equal(HttpStatusCode.OK, dave.Status);
        // Carol's address is in the allowed domain, but the provider says it is not verified: refused.
        var carol = await VisitAsync(Carol);
        Assert.Equal(HttpStatusCode.Forbidden, carol.Status);
        Assert.Contains("may not use this service", carol.Body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_reload_that_changes_only_the_client_secret_is_applied_to_the_next_login()
    {
        var provider = Own(await TestOidcProvider.StartAsync(Alice));
        // The failed logins below are not what the test is about: no abuse shield in the way.
        EdgeConfig WithSecret(EdgeConfig edge, string secret) => edge with
        {
            Shield = new ShieldConfig { Enabled = false },
            Policies = [new EdgePolicyConfig { Name = "sso", Hosts = [WarrenHarness.AppHost], Policy = new PolicyConfig { Oidc = Login(provider) with { ClientSecret = secret } } }],
        };
        var harness = await StartAsync(null, edge => WithSecret(edge, "the-old-secret-that-was-rotated"));
        var site = $"http://app.test:{harness.HttpPort}";
        await RegisterAsync(provider, site); // the provider knows only the new secret

        async Task<(HttpStatusCode Status, string Body)> LoginAsync()
        {
            using var browser = new OidcBrowser(harness);
            using var form = await browser.FollowAsync(await browser.GetAsync(new Uri(site + "/echo")));
            using var page = await browser.SignInAsync(form, "alice", "alice-pw");
            return (page.StatusCode, await page.Content.ReadAsStringAsync());
        }

        // The provider refuses the code redemption with the old secret.
        var refused = await LoginAsync();
        Assert.Equal(HttpStatusCode.Forbidden, refused.Status);
        Assert.Contains("The login did not complete", refused.Body, StringComparison.Ordinal);

        // Only client_secret changes: the same login scheme (its name leaves the secret out), now with the new secret.
        var result = await harness.Edge.ReloadAsync(ConfigLoader.ValidateEdge(WithSecret(harness.Edge.Config, ClientSecret)));
        Assert.True(result.Ok, result.Error);
        Assert.Contains("policies", result.Applied);
        await Wait.UntilAsync(async () => (await LoginAsync()).Status == HttpStatusCode.OK, "a login with the new client secret", TimeSpan.FromSeconds(60));
        var page = await LoginAsync();
        Assert.Contains("\nX-User: sub-alice\n", page.Body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_edge_whose_services_have_no_oidc_login_makes_no_session_keys()
    {
        // The key ring is loaded at the first login, not at start (EdgeServer: no Data Protection hosted service).
        var harness = await StartAsync(policy: null);
        using var response = await SendAsync(harness, "/echo");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.False(Directory.Exists(Path.Combine(harness.DataDirectory, "oidc-keys")));
    }

    [Fact]
    public async Task A_session_on_a_parent_domain_covers_its_other_hosts_and_survives_an_edge_restart_with_keys_kept_private()
    {
        var provider = Own(await TestOidcProvider.StartAsync(Alice));
        var harness = Own(await WarrenHarness.StartAsync(Log, new HarnessOptions
        {
            AllowHosts = ["*.corp.test"],
            Services = h => [h.HttpService("app", "a.corp.test", "b.corp.test")],
            // Only the operator may share a session across a parent domain (an agent's policy cannot).
            ConfigureEdge = edge => edge with
            {
                Policies = [new EdgePolicyConfig { Name = "sso", Hosts = ["*.corp.test"], Policy = new PolicyConfig { Oidc = Login(provider) with { CookieDomain = "corp.test" } } }],
            },
        }));
        await RegisterAsync(provider, $"http://a.corp.test:{harness.HttpPort}");
        using var browser = new OidcBrowser(harness);

        using var form = await browser.FollowAsync(await browser.GetAsync(new Uri($"http://a.corp.test:{harness.HttpPort}/echo")));
        using var page = await browser.SignInAsync(form, "alice", "alice-pw");
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        // b.corp.test gets the same session: no second login.
        using var other = await browser.GetAsync(new Uri($"http://b.corp.test:{harness.HttpPort}/echo"));
        Assert.Equal(HttpStatusCode.OK, other.StatusCode);
        Assert.Contains("\nX-User: sub-alice\n", await other.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        // The keys that protect the cookie are in the data directory, readable by the edge's user only.
        var keys = Path.Combine(harness.DataDirectory, "oidc-keys");
        Assert.NotEmpty(Directory.GetFiles(keys, "*.xml"));
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(keys));
            foreach (var file in Directory.GetFiles(keys))
            {
                Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(file));
            }
        }

        await harness.StopEdgeAsync();
        await harness.StartEdgeAsync();
        await harness.WaitUntilServedAsync("app");
        using var afterRestart = await browser.GetAsync(new Uri($"http://b.corp.test:{harness.HttpPort}/echo"));
        Assert.Equal(HttpStatusCode.OK, afterRestart.StatusCode);
        Assert.Contains("\nX-User: sub-alice\n", await afterRestart.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(1, provider.Logins);
    }
}
