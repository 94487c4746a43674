using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using Warren.Agent;
using Warren.Configuration;
using Xunit.Abstractions;

namespace Warren.PolicyTests;

/// <summary>edge.yaml policies: attached by hostname, never weakened by an agent, required by a grant (docs/security.md, "Policies").</summary>
public sealed class EdgePolicyTests(ITestOutputHelper output) : PolicyTest(output)
{
    private static readonly string OperatorUser = Htpasswd("operator", "op-secret");

    private static Func<EdgeConfig, EdgeConfig> EdgePolicy(string name, IReadOnlyList<string> hosts, PolicyConfig policy, IReadOnlyList<string>? require = null) =>
        config => config with
        {
            Policies = [new EdgePolicyConfig { Name = name, Hosts = hosts, Policy = policy }],
            Tokens = [config.Tokens[0] with { RequirePolicies = require ?? [] }],
        };

    [Fact]
    public async Task An_edge_policy_holds_whatever_the_agent_sends_and_an_agent_policy_adds_to_it()
    {
        const string key = "agent-key-0123456789abcdef0123";
        var agentPolicy = new PolicyConfig
        {
            // The agent tries to open up (allow everything) and adds its own key on top of the operator's password.
            Ip = new IpRulesConfig { Allow = ["0.0.0.0/0", "::/0"] },
            ApiKeys = new ApiKeysConfig { Header = "X-Api-Key", KeysSha256 = [Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)))] },
        };
        var harness = await StartAsync(agentPolicy, EdgePolicy("office", ["*.test"], new PolicyConfig { BasicAuth = new BasicAuthConfig { Users = [OperatorUser] } }));

        using var none = await SendAsync(harness, "/echo");
        Assert.Equal(HttpStatusCode.Unauthorized, none.StatusCode);
        using var keyOnly = await SendAsync(harness, "/echo", r => r.Headers.Add("X-Api-Key", key));
        Assert.Equal(HttpStatusCode.Unauthorized, keyOnly.StatusCode);
        using var passwordOnly = await SendAsync(harness, "/echo", r => r.Headers.Authorization = Basic("operator", "op-secret"));
        Assert.Equal(HttpStatusCode.Unauthorized, passwordOnly.StatusCode);
        using var both = await SendAsync(harness, "/echo", r =>
        {
            r.Headers.Authorization = Basic("operator", "op-secret");
            r.Headers.Add("X-Api-Key", key);
        });
        Assert.Equal(HttpStatusCode.OK, both.StatusCode);
    }

    [Fact]
    public async Task An_edge_policy_for_one_name_covers_a_wildcard_service_that_answers_it()
    {
        var harness = Own(await WarrenHarness.StartAsync(Log, new HarnessOptions
        {
            Services = h => [h.HttpService("wild", "*.apps.test")],
            ConfigureEdge = EdgePolicy("admin", ["admin.apps.test"], new PolicyConfig { BasicAuth = new BasicAuthConfig { Users = [OperatorUser] } }),
        }));
        using var admin = await SendAsync(harness, "/echo", host: "admin.apps.test");
        Assert.Equal(HttpStatusCode.Unauthorized, admin.StatusCode);
        using var other = await SendAsync(harness, "/echo", host: "blog.apps.test");
        Assert.Equal(HttpStatusCode.Unauthorized, other.StatusCode); // stricter, never looser: the whole service is covered
        using var authorized = await SendAsync(harness, "/echo", r => r.Headers.Authorization = Basic("operator", "op-secret"), host: "admin.apps.test");
        Assert.Equal(HttpStatusCode.OK, authorized.StatusCode);
    }

    [Fact]
    public async Task A_grant_that_requires_a_policy_refuses_a_service_without_it_with_a_clear_error_in_the_agents_log()
    {
        var harness = await StartAsync(null, EdgePolicy("sso", [], new PolicyConfig { BasicAuth = new BasicAuthConfig { Users = [OperatorUser] } }, require: ["sso"]), startAgent: false);

        await using (var agent = new WarrenAgent(harness.AgentConfig([harness.HttpService("bare", "bare.test")]), Log.Factory))
        {
            agent.Start();
            await Wait.UntilAsync(
                () => Log.Matching("Service bare was refused by the edge", "token 'tests' requires every service to use edge policy 'sso'", "policy.use").Count > 0,
                "the agent logs why its service was refused");
            using var refused = await SendAsync(harness, "/echo", host: "bare.test");
            Assert.Equal(HttpStatusCode.NotFound, refused.StatusCode);
        }

        await harness.StartAgentAsync([harness.HttpService("app", WarrenHarness.AppHost) with { Policy = new PolicyConfig { Use = ["sso"] } }]);
        using var challenged = await SendAsync(harness, "/echo");
        Assert.Equal(HttpStatusCode.Unauthorized, challenged.StatusCode);
        using var ok = await SendAsync(harness, "/echo", r => r.Headers.Authorization = Basic("operator", "op-secret"));
        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
    }

    [Fact]
    public async Task An_invalid_agent_policy_refuses_that_service_only_and_the_session_keeps_the_others()
    {
        var harness = await StartAsync(null, startAgent: false);
        await using var agent = new WarrenAgent(harness.AgentConfig(
        [
            harness.HttpService("app", WarrenHarness.AppHost),
            harness.HttpService("bad", "bad.test") with { Policy = new PolicyConfig { Use = ["no-such-policy"] } },
        ]), Log.Factory);
        agent.Start();
        await Wait.UntilAsync(() => Log.Matching("Service bad was refused by the edge", "policy.use: the edge has no policy named 'no-such-policy'").Count > 0,
            "the agent logs why its service was refused");
        using var served = await SendAsync(harness, "/echo");
        Assert.Equal(HttpStatusCode.OK, served.StatusCode);
    }
}
