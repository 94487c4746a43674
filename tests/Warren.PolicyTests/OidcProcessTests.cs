using System.Globalization;
using System.Net;
using Xunit.Abstractions;

namespace Warren.PolicyTests;

/// <summary>
/// The OpenID Connect login through the real <c>warren</c> edge and agent processes, as released: .ci/run runs this
/// class again against the published release binary (trimmed, <c>WARREN_TEST_EXECUTABLE</c>), where the login's
/// framework code (the OpenIdConnect and cookie handlers, Data Protection's key ring read back from XML after a
/// restart) is what a trim could have left out.
/// </summary>
public sealed class OidcProcessTests(ITestOutputHelper output) : PolicyTest(output)
{
    private const string ClientId = "warren-edge";
    private const string ClientSecret = "oidc-client-secret-0123456789";

    [Fact]
    public async Task The_warren_processes_run_the_login_and_its_session_survives_an_edge_restart()
    {
        var provider = Own(await TestOidcProvider.StartAsync(new TestUser("alice", "alice-pw", "sub-alice", "alice@example.com", true, ["staff"])));
        var backends = Own(await WarrenHarness.StartAsync(Log, new HarnessOptions { StartAgent = false }));
        var token = WarrenHarness.NewToken();
        var httpPort = ReservePort();
        var agentsPort = ReservePort();
        // Fixed ports: the restarted edge must be where the browser and the agent look for it.
        var edgeYaml = await EdgeProcess.WriteConfigAsync(TempDirectory(), token, httpPort: httpPort, agentsPort: agentsPort);
        var edge = Own(await EdgeProcess.StartAsync(Log, "edge#1", edgeYaml));

        var agentYaml = Path.Combine(TempDirectory(), "agent.yaml");
        await File.WriteAllTextAsync(agentYaml, string.Create(CultureInfo.InvariantCulture, $"""
            edge: 127.0.0.1:{agentsPort}
            token: {token}
            edge_fingerprint: {edge.Fingerprint}
            name: process-agent
            services:
              - name: app
                hostnames: [{WarrenHarness.AppHost}]
                target: {backends.BackendUri}
                policy:
                  oidc:
                    issuer: {provider.Issuer}
                    client_id: {ClientId}
                    client_secret: {ClientSecret}
                    scopes: [openid, email, profile]
                    identity_headers:
                      X-User: sub
                      X-Email: email
            """));
        Own(WarrenProcess.Start(Log, "agent", "agent", "--config", agentYaml));

        var site = $"http://{WarrenHarness.AppHost}:{httpPort}";
        await provider.RegisterClientAsync(ClientId, ClientSecret, [new Uri(site + "/_warren/oidc/callback")], [new Uri(site + "/_warren/oidc/logout/done")]);
        using var browser = new OidcBrowser(() => httpPort);
        // The agent's service is routed once a request without a session gets the login's redirect.
        (await WaitForAsync(browser, site, r => r.StatusCode == HttpStatusCode.Found, "the service answers with the login redirect")).Dispose();

        using var form = await browser.FollowAsync(await browser.GetAsync(new Uri(site + "/echo")));
        using (var page = await browser.SignInAsync(form, "alice", "alice-pw"))
        {
            Assert.Equal(HttpStatusCode.OK, page.StatusCode);
            Assert.Contains("\nX-User: sub-alice\n", await page.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }
        Assert.NotEmpty(Directory.GetFiles(Path.Combine(Path.GetDirectoryName(edgeYaml)!, "oidc-keys"), "*.xml"));

        // A new edge process reads the key ring back from {data}/oidc-keys: the same cookie is still a session.
        await edge.Process.TerminateAsync();
        Assert.Equal(0, await edge.Process.WaitForExitAsync(TimeSpan.FromSeconds(60)));
        Own(await EdgeProcess.StartAsync(Log, "edge#2", edgeYaml));
        // The agent's reconnect backoff (jittered, growing while the edge was down) can outlast the restored route's
        // grace (5 s), which then answers 503: that is no answer from the service yet either.
        using var again = await WaitForAsync(browser, site, r => r.StatusCode is not (HttpStatusCode.NotFound or HttpStatusCode.BadGateway or HttpStatusCode.ServiceUnavailable),
            "the agent registered with the restarted edge");
        Assert.Equal(HttpStatusCode.OK, again.StatusCode);
        Assert.Contains("\nX-User: sub-alice\n", await again.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(1, provider.Logins);
    }

    /// <summary>GETs /echo until <paramref name="done"/> holds for the answer (the edge may not listen yet); returns that answer.</summary>
    private static async Task<HttpResponseMessage> WaitForAsync(OidcBrowser browser, string site, Func<HttpResponseMessage, bool> done, string what)
    {
        HttpResponseMessage? last = null;
        await Wait.UntilAsync(async () =>
        {
            last?.Dispose();
            try
            {
                last = await browser.GetAsync(new Uri(site + "/echo"));
            }
            catch (HttpRequestException)
            {
                last = null; // the edge is not listening yet
                return false;
            }
            return done(last);
        }, what, TimeSpan.FromSeconds(60));
        return last!;
    }
}
