using System.Net;
using System.Net.Http.Headers;
using Microsoft.AspNetCore.Http;
using Warren.Configuration;
using Warren.Testing.Backends;
using Xunit.Abstractions;

namespace Warren.PolicyTests;

/// <summary>jwt (against a real issuer's JWKS) and forward_auth (against a real HTTP service), docs/policy.md.</summary>
public sealed class JwtAndForwardAuthTests(ITestOutputHelper output) : PolicyTest(output)
{
    [Fact]
    public async Task Jwt_signed_by_the_issuer_for_the_audience_passes_with_identity_headers_and_anything_else_is_refused()
    {
        var issuer = Own(await TestIssuer.StartAsync());
        var harness = await StartAsync(new PolicyConfig
        {
            Jwt = new JwtConfig
            {
                Issuer = issuer.Issuer,
                Audiences = ["grafana"],
                RequiredClaims = new Dictionary<string, string> { ["scope"] = "read" },
                IdentityHeaders = new Dictionary<string, string> { ["X-User"] = "sub", ["X-Email"] = "email" },
            },
        });
        Dictionary<string, object> Claims(string scope) => new() { ["sub"] = "alice", ["email"] = "alice@example.com", ["scope"] = scope };

        async Task<HttpResponseMessage> WithToken(string? token) => await SendAsync(harness, "/echo", r =>
        {
            r.Headers.Add("X-User", "mallory"); // a forged identity header never reaches the service
            if (token is not null)
            {
                r.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
            }
        });

        using var ok = await WithToken(issuer.Token("grafana", Claims("openid read write")));
        var body = await ok.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        Assert.Contains("\nX-User: alice\n", body, StringComparison.Ordinal);
        Assert.Contains("\nX-Email: alice@example.com\n", body, StringComparison.Ordinal);
        Assert.DoesNotContain("mallory", body, StringComparison.Ordinal);

        using var none = await WithToken(null);
        Assert.Equal(HttpStatusCode.Unauthorized, none.StatusCode);
        Assert.Equal("Bearer", Assert.Single(none.Headers.WwwAuthenticate).Scheme);
        foreach (var bad in new[]
        {
            issuer.Token("other-audience", Claims("read")),
            issuer.Token("grafana", Claims("read"), expired: true),
            issuer.Token("grafana", Claims("read"), foreignKey: true),
            issuer.Token("grafana", Claims("read"), issuer: "https://evil.example"),
            "not-a-jwt",
        })
        {
            using var refused = await WithToken(bad);
            Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
        }
        using var forbidden = await WithToken(issuer.Token("grafana", Claims("write")));
        Assert.Equal(HttpStatusCode.Forbidden, forbidden.StatusCode);
    }

    [Fact]
    public async Task Forward_auth_lets_through_what_the_auth_service_accepts_with_its_headers_and_returns_its_refusal_to_the_client()
    {
        var asked = new List<string>();
        var auth = Own(await BackendHttpServer.StartAsync(async context =>
        {
            var request = context.Request;
            lock (asked)
            {
                asked.Add($"{request.Headers["X-Forwarded-Method"]} {request.Headers["X-Forwarded-Host"]}{request.Headers["X-Forwarded-Uri"]}");
            }
            if (request.Headers.Cookie.ToString().Contains("session=good", StringComparison.Ordinal))
            {
                context.Response.Headers["Remote-User"] = "alice";
                context.Response.Headers["Remote-Groups"] = "admins";
                return;
            }
            context.Response.StatusCode = StatusCodes.Status302Found;
            context.Response.Headers.Location = "https://login.example.com/?rd=" + Uri.EscapeDataString($"http://{request.Headers["X-Forwarded-Host"]}{request.Headers["X-Forwarded-Uri"]}");
            await context.Response.WriteAsync("log in first");
        }));
        var harness = await StartAsync(new PolicyConfig
        {
            ForwardAuth = new ForwardAuthConfig { Url = $"{auth.Uri}verify", CopyHeaders = ["Remote-User", "Remote-Groups"] },
        });

        using var anonymous = await SendAsync(harness, "/echo?x=1", r => r.Headers.Add("Remote-User", "mallory"));
        Assert.Equal(HttpStatusCode.Found, anonymous.StatusCode);
        Assert.Equal("https://login.example.com/?rd=" + Uri.EscapeDataString("http://app.test/echo?x=1"), anonymous.Headers.Location!.OriginalString);
        Assert.Equal("log in first", await anonymous.Content.ReadAsStringAsync());

        using var loggedIn = await SendAsync(harness, "/echo", r =>
        {
            r.Headers.Add("Cookie", "session=good");
            r.Headers.Add("Remote-User", "mallory");
        });
        var body = await loggedIn.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.OK, loggedIn.StatusCode);
        Assert.Contains("\nRemote-User: alice\n", body, StringComparison.Ordinal);
        Assert.Contains("\nRemote-Groups: admins\n", body, StringComparison.Ordinal);
        Assert.DoesNotContain("mallory", body, StringComparison.Ordinal);
        lock (asked)
        {
            Assert.Equal(["GET app.test/echo?x=1", "GET app.test/echo"], asked);
        }

        // The auth service gone: nothing goes through.
        await auth.DisposeAsync();
        using var down = await SendAsync(harness, "/echo", r => r.Headers.Add("Cookie", "session=good"));
        Assert.Equal(HttpStatusCode.ServiceUnavailable, down.StatusCode);
    }
}
