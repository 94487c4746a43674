using System.Text.Json;
using Warren.Configuration;
using Warren.Protocol.Tunnel;
using Warren.SecurityTests.Harness;
using Xunit.Abstractions;

namespace Warren.SecurityTests;

/// <summary>
/// A policy sent by an agent is untrusted input (docs/protocol.md §10.2, docs/security.md "Policies"): every malformed
/// or invalid one refuses its service with a reason, the rest of the registration stands, and the session lives on.
/// </summary>
public sealed class PolicyRegistrationTests(ITestOutputHelper output) : SecurityTest(output)
{
    [Theory]
    [InlineData("\"basic_auth\"", "policy: must be a JSON object")]
    [InlineData("{\"basic_auth\": {\"users\": [\"alice:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\"]}}", "only bcrypt hashes")]
    [InlineData("{\"future_rule\": {\"x\": 1}}", "policy: malformed")]
    [InlineData("{\"ip\": {\"allow\": [null]}}", "policy: malformed")]
    [InlineData("{\"ip\": {\"allow\": [\"10.0.0.1/8\"]}}", "policy.ip.allow[0]: '10.0.0.1/8' is not an IP address or CIDR range")]
    [InlineData("{\"timeout\": 5}", "policy: malformed")]
    [InlineData("{\"rate_limit\": {\"per_ip\": {\"requests\": 0}}}", "policy.rate_limit.per_ip.requests: must be 1 to 1000000")]
    [InlineData("{\"request_headers\": {\"set\": {\"Host\": \"evil.test\"}}}", "cannot be set or removed by a policy")]
    [InlineData("{\"use\": [\"nope\"]}", "the edge has no policy named 'nope'")]
    [InlineData("{\"max_connections_per_ip\": 5}", "sets TCP rules")]
    [InlineData("{\"api_keys\": {\"keys_sha256\": []}}", "needs at least one key")]
    [InlineData("{\"basic_auth\": null, \"api_keys\": {\"keys_sha256\": null}}", "needs at least one key")]
    public async Task A_bad_policy_refuses_its_service_with_the_reason_and_the_session_keeps_serving(string policy, string reason)
    {
        var token = WarrenHarness.NewToken();
        var edge = await StartEdgeAsync(new HarnessOptions { ExtraTokens = [new EdgeTokenConfig { Name = "policy", Token = token, AllowHosts = ["*.policy.test"] }] });
        await using var raw = await ConnectRawAsync(edge);
        Assert.True((await raw.AuthenticateAsync(token))!.Ok);
        var results = await raw.RegisterAsync(
            new ServiceRegistration { Name = "bad", Kind = "http", Hostnames = ["bad.policy.test"], Policy = JsonDocument.Parse(policy).RootElement },
            new ServiceRegistration { Name = "fine", Kind = "http", Hostnames = ["fine.policy.test"], Policy = JsonDocument.Parse("{\"ip\": {\"deny\": [\"192.0.2.0/24\"]}}").RootElement });
        var bad = Assert.Single(results, r => r.Name == "bad");
        Assert.False(bad.Ok);
        Assert.Contains(reason, bad.Error, StringComparison.Ordinal);
        var fine = Assert.Single(results, r => r.Name == "fine");
        Assert.True(fine.Ok, fine.Error);
        Assert.True(fine.PolicyEnforced);
        Assert.Null(edge.Edge.State.Routes.MatchHttp("bad.policy.test", "/"));
        Assert.False(raw.Session.Completion.IsCompleted);
        await AssertStillServesAsync(edge);
    }
}
