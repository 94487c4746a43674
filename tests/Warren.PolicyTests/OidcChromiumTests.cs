using PuppeteerSharp;
using Warren.Configuration;
using Xunit.Abstractions;

namespace Warren.PolicyTests;

/// <summary>
/// oidc with a real browser (docs/policy.md, "OpenID Connect login"): headless Chromium, driven by PuppeteerSharp,
/// signs in at a real OpenID Connect provider (OpenIddict, <see cref="TestOidcProvider"/>) through the tunnel: the
/// redirects, the provider's form, the SameSite cookies and the code flow with PKCE run as they run for a person.
/// Needs Debian's <c>chromium</c> (.ci/run installs it); names under .test resolve to 127.0.0.1 inside the browser.
/// </summary>
public sealed class OidcChromiumTests(ITestOutputHelper output) : PolicyTest(output)
{
    private const string ClientId = "warren-edge";
    private const string ClientSecret = "oidc-client-secret-0123456789";
    private static readonly TestUser Alice = new("alice", "alice-pw", "sub-alice", "alice@example.com", true, ["admins", "staff"]);

    /// <summary>The browser binary: $WARREN_CHROMIUM, else Debian's chromium.</summary>
    private static string ChromiumPath()
    {
        foreach (var candidate in new[] { Environment.GetEnvironmentVariable("WARREN_CHROMIUM"), "/usr/lib/chromium/chromium", "/usr/bin/chromium" })
        {
            if (!string.IsNullOrEmpty(candidate) && File.Exists(candidate))
            {
                return candidate;
            }
        }
        throw new InvalidOperationException("no Chromium: install Debian's chromium (apt-get install chromium; .ci/run does) or set WARREN_CHROMIUM");
    }

    [Fact]
    public async Task Chromium_signs_in_through_the_tunnel_the_service_sees_the_user_never_a_forged_header_and_logout_returns_to_the_login()
    {
        var provider = Own(await TestOidcProvider.StartAsync(Alice));
        var harness = await StartAsync(new PolicyConfig
        {
            Oidc = new OidcConfig
            {
                Issuer = provider.Issuer,
                ClientId = ClientId,
                ClientSecret = ClientSecret,
                Scopes = ["openid", "email", "profile", "groups"],
                AllowedDomains = ["example.com"],
                IdentityHeaders = new Dictionary<string, string> { ["X-Email"] = "email", ["X-User"] = "sub", ["X-Groups"] = "groups" },
            },
        });
        var site = $"http://{WarrenHarness.AppHost}:{harness.HttpPort}";
        await provider.RegisterClientAsync(ClientId, ClientSecret, [new Uri(site + "/_warren/oidc/callback")], [new Uri(site + "/_warren/oidc/logout/done")]);

        await using var browser = await Puppeteer.LaunchAsync(new LaunchOptions
        {
            Headless = true,
            ExecutablePath = ChromiumPath(),
            Timeout = 120_000,
            Args =
            [
                "--no-sandbox", // tests run as root in a container
                "--disable-dev-shm-usage",
                "--no-proxy-server",
                "--host-resolver-rules=\"MAP *.test 127.0.0.1\"", // quoted: the launcher joins the arguments with spaces
                "--disable-features=HttpsUpgrades,HttpsFirstBalancedModeAutoEnable",
            ],
        });
        await using var page = await browser.NewPageAsync();
        page.DefaultTimeout = 60_000;
        page.DefaultNavigationTimeout = 60_000;
        // Every request the browser makes carries forged identity headers; the service must see only the edge's.
        await page.SetExtraHttpHeadersAsync(new Dictionary<string, string> { ["X-Email"] = "mallory@example.com", ["X-User"] = "mallory" });

        // No session: the edge sends the browser to the provider, which shows its login form.
        await page.GoToAsync(site + "/echo?x=1");
        var form = new Uri(page.Url);
        Assert.Equal(new Uri(provider.Issuer).Authority, form.Authority);
        Assert.Equal("/login", form.AbsolutePath);

        await page.TypeAsync("input[name=user]", Alice.Name);
        await page.TypeAsync("input[name=password]", Alice.Password);
        await Task.WhenAll(page.WaitForNavigationAsync(), page.ClickAsync("button[type=submit]"));

        // Back at the page first asked for, through the callback: the service sees the user, not the forgery.
        Assert.Equal(site + "/echo?x=1", page.Url);
        var seen = await page.EvaluateExpressionAsync<string>("document.body.innerText");
        Assert.Contains("X-Email: alice@example.com", seen, StringComparison.Ordinal);
        Assert.Contains("X-User: sub-alice", seen, StringComparison.Ordinal);
        Assert.Contains("X-Groups: admins,staff", seen, StringComparison.Ordinal);
        Assert.DoesNotContain("mallory", seen, StringComparison.Ordinal);
        Assert.DoesNotContain("_warren_oidc", seen, StringComparison.Ordinal);
        var session = Assert.Single(await page.GetCookiesAsync(site), c => c.Name.StartsWith("_warren_oidc_", StringComparison.Ordinal) && !c.Name.Contains("nonce", StringComparison.Ordinal) && !c.Name.Contains("correlation", StringComparison.Ordinal));
        Assert.True(session.HttpOnly);
        Assert.Equal(SameSite.Lax, session.SameSite);

        // The session holds: another page needs no login.
        await page.GoToAsync(site + "/echo?again=1");
        Assert.Equal(site + "/echo?again=1", page.Url);
        Assert.Contains("X-User: sub-alice", await page.EvaluateExpressionAsync<string>("document.body.innerText"), StringComparison.Ordinal);
        Assert.Equal(1, provider.Logins);

        // Logout ends both sessions: the browser ends up at the provider's login form again.
        await page.GoToAsync(site + "/_warren/oidc/logout");
        var after = new Uri(page.Url);
        Assert.Equal(new Uri(provider.Issuer).Authority, after.Authority);
        Assert.Equal("/login", after.AbsolutePath);
        Assert.DoesNotContain(await page.GetCookiesAsync(site), c => c.Name == session.Name);
    }
}
