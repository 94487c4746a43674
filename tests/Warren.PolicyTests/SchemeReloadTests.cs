using System.Net;
using System.Net.Http.Headers;
using Warren.Configuration;
using Xunit.Abstractions;

namespace Warren.PolicyTests;

/// <summary>
/// Authentication schemes under hot reload (Policy/SchemeSweeper.cs): each jwt configuration gets its own scheme, and
/// one that no policy holds any more is removed, so reloads do not pile schemes up; the one in force keeps working.
/// </summary>
public sealed class SchemeReloadTests(ITestOutputHelper output) : PolicyTest(output)
{
    [Fact]
    public async Task Reloading_edge_jwt_policies_leaves_only_the_scheme_in_force_and_it_still_authenticates()
    {
        var issuer = Own(await TestIssuer.StartAsync());
        // The waits below see 401s until the agent has registered again: no abuse shield to ban the test's address.
        EdgeConfig WithAudience(EdgeConfig edge, string audience) => edge with
        {
            Shield = new ShieldConfig { Enabled = false },
            Policies = [new EdgePolicyConfig { Name = "sso", Hosts = [WarrenHarness.AppHost], Policy = new PolicyConfig { Jwt = new JwtConfig { Issuer = issuer.Issuer, Audiences = [audience] } } }],
        };
        var harness = await StartAsync(null, edge => WithAudience(edge, "aud-0"));
        var claims = new Dictionary<string, object> { ["sub"] = "alice" };

        async Task<HttpStatusCode> StatusWith(string audience)
        {
            using var response = await SendAsync(harness, "/echo", r => r.Headers.Authorization = new AuthenticationHeaderValue("Bearer", issuer.Token(audience, claims)));
            return response.StatusCode;
        }

        Assert.Equal(HttpStatusCode.OK, await StatusWith("aud-0"));
        for (var i = 1; i <= 4; i++)
        {
            var audience = $"aud-{i}";
            var result = await harness.Edge.ReloadAsync(ConfigLoader.ValidateEdge(WithAudience(harness.Edge.Config, audience)));
            Assert.True(result.Ok, result.Error);
            // The agent registers again after the reload's GOAWAY, and its service then has the new policy.
            await Wait.UntilAsync(async () => await StatusWith(audience) == HttpStatusCode.OK, $"{audience} is accepted", TimeSpan.FromSeconds(60));
        }

        // One scheme per audience so far. Removal takes two sweeps, and the edge's own sweep (aligned to the clock's
        // minute) may run once during the test: counted by what is left, the test holds whichever sweeps did the work.
        static bool IsJwt(string name) => name.StartsWith("warren-jwt-", StringComparison.Ordinal);
        Assert.Equal(5, (await harness.Edge.Schemes.SchemeNamesAsync()).Count(IsJwt));
        // Unused at one sweep, removed at the next: only aud-4's scheme is left.
        harness.Edge.Schemes.Sweep();
        harness.Edge.Schemes.Sweep();
        Assert.Single(await harness.Edge.Schemes.SchemeNamesAsync(), IsJwt);
        Assert.Equal(HttpStatusCode.OK, await StatusWith("aud-4"));
        Assert.Equal(HttpStatusCode.Unauthorized, await StatusWith("aud-0"));
    }
}
