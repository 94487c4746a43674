using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using Warren.Configuration;
using Xunit.Abstractions;

namespace Warren.PolicyTests;

/// <summary>basic_auth and api_keys (docs/policy.md): what they let through and what they refuse, with the answers clients expect.</summary>
public sealed class AuthenticationTests(ITestOutputHelper output) : PolicyTest(output)
{
    [Fact]
    public async Task Basic_auth_with_an_htpasswd_bcrypt_hash_answers_401_with_a_challenge_until_the_right_password_is_sent()
    {
        var harness = await StartAsync(new PolicyConfig
        {
            BasicAuth = new BasicAuthConfig { Realm = "grafana", Users = [Htpasswd("alice", "correct horse"), Htpasswd("bob", "battery staple")] },
        });

        using var none = await SendAsync(harness, "/echo");
        Assert.Equal(HttpStatusCode.Unauthorized, none.StatusCode);
        Assert.Equal("Basic realm=\"grafana\", charset=\"UTF-8\"", Assert.Single(none.Headers.WwwAuthenticate).ToString());
        using var wrong = await SendAsync(harness, "/echo", r => r.Headers.Authorization = Basic("alice", "battery staple"));
        Assert.Equal(HttpStatusCode.Unauthorized, wrong.StatusCode);
        using var unknown = await SendAsync(harness, "/echo", r => r.Headers.Authorization = Basic("mallory", "correct horse"));
        Assert.Equal(HttpStatusCode.Unauthorized, unknown.StatusCode);
        using var garbage = await SendAsync(harness, "/echo", r => r.Headers.TryAddWithoutValidation("Authorization", "Basic !!not-base64!!"));
        Assert.Equal(HttpStatusCode.Unauthorized, garbage.StatusCode);

        for (var i = 0; i < 2; i++)
        {
            // The second time comes from the verified-header cache: the same answer.
            using var right = await SendAsync(harness, "/echo", r => r.Headers.Authorization = Basic("alice", "correct horse"));
            Assert.Equal(HttpStatusCode.OK, right.StatusCode);
            Assert.StartsWith("GET /echo", await right.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }
        using var bob = await SendAsync(harness, "/echo", r => r.Headers.Authorization = Basic("bob", "battery staple"));
        Assert.Equal(HttpStatusCode.OK, bob.StatusCode);
    }

    [Fact]
    public async Task Api_keys_are_accepted_as_bearer_and_query_parameter_and_anything_else_gets_401()
    {
        const string key = "k-3f9a1c2e7b5d4a8f9e0c1b2a3d4e5f60";
        var harness = await StartAsync(new PolicyConfig
        {
            ApiKeys = new ApiKeysConfig { Query = "api_key", KeysSha256 = [Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)))] },
        });

        using var none = await SendAsync(harness, "/echo");
        Assert.Equal(HttpStatusCode.Unauthorized, none.StatusCode);
        Assert.Equal("Bearer", Assert.Single(none.Headers.WwwAuthenticate).Scheme);
        using var wrong = await SendAsync(harness, "/echo", r => r.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key + "x"));
        Assert.Equal(HttpStatusCode.Unauthorized, wrong.StatusCode);
        using var bearer = await SendAsync(harness, "/echo", r => r.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key));
        Assert.Equal(HttpStatusCode.OK, bearer.StatusCode);
        using var query = await SendAsync(harness, "/echo?api_key=" + key);
        Assert.Equal(HttpStatusCode.OK, query.StatusCode);
        using var wrongQuery = await SendAsync(harness, "/echo?api_key=nope");
        Assert.Equal(HttpStatusCode.Unauthorized, wrongQuery.StatusCode);
        // Among other parameters, and percent-encoded (name and value), the key is found as request.Query would find it.
        using var among = await SendAsync(harness, "/echo?a=1&api%5Fkey=" + key.Replace("-", "%2D", StringComparison.Ordinal) + "&b");
        Assert.Equal(HttpStatusCode.OK, among.StatusCode);
        // Twice is ambiguous, even when both copies are right: refused.
        using var twice = await SendAsync(harness, $"/echo?api_key={key}&api_key={key}");
        Assert.Equal(HttpStatusCode.Unauthorized, twice.StatusCode);
        using var prefix = await SendAsync(harness, "/echo?api_key_x=" + key);
        Assert.Equal(HttpStatusCode.Unauthorized, prefix.StatusCode);
    }

    [Fact]
    public async Task Api_keys_in_a_named_header_and_basic_auth_in_one_policy_either_one_lets_the_request_through()
    {
        const string key = "header-key-0123456789abcdef";
        var harness = await StartAsync(new PolicyConfig
        {
            ApiKeys = new ApiKeysConfig { Header = "X-Api-Key", KeysSha256 = [Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)))] },
            BasicAuth = new BasicAuthConfig { Users = [Htpasswd("alice", "pw")] },
        });

        using var none = await SendAsync(harness, "/echo");
        Assert.Equal(HttpStatusCode.Unauthorized, none.StatusCode);
        Assert.Equal(2, none.Headers.WwwAuthenticate.Count);
        using var header = await SendAsync(harness, "/echo", r => r.Headers.Add("X-Api-Key", key));
        Assert.Equal(HttpStatusCode.OK, header.StatusCode);
        // With a named header, a Bearer token is not a key.
        using var bearer = await SendAsync(harness, "/echo", r => r.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key));
        Assert.Equal(HttpStatusCode.Unauthorized, bearer.StatusCode);
        using var basic = await SendAsync(harness, "/echo", r => r.Headers.Authorization = Basic("alice", "pw"));
        Assert.Equal(HttpStatusCode.OK, basic.StatusCode);
    }
}
