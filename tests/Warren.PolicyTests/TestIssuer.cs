using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;
using Warren.Testing.Backends;

namespace Warren.PolicyTests;

/// <summary>
/// A token issuer on loopback for the JWT tests: a real discovery document and JWKS over HTTP (what the edge fetches),
/// and RS256 tokens signed with the key it publishes (or, to be refused, with one it does not).
/// </summary>
internal sealed class TestIssuer : IAsyncDisposable
{
    private readonly RSA _rsa = RSA.Create(2048);
    private readonly RSA _stranger = RSA.Create(2048);
    private BackendHttpServer _server = null!;

    public string Issuer => _server.Uri.ToString().TrimEnd('/');

    public static async Task<TestIssuer> StartAsync()
    {
        var issuer = new TestIssuer();
        issuer._server = await BackendHttpServer.StartAsync(issuer.HandleAsync);
        return issuer;
    }

    private Task HandleAsync(HttpContext context)
    {
        context.Response.ContentType = "application/json";
        if (context.Request.Path == "/.well-known/openid-configuration")
        {
            return context.Response.WriteAsync(JsonSerializer.Serialize(new Dictionary<string, string> { ["issuer"] = Issuer, ["jwks_uri"] = Issuer + "/jwks" }));
        }
        if (context.Request.Path == "/jwks")
        {
            var parameters = _rsa.ExportParameters(includePrivateParameters: false);
            var key = new Dictionary<string, string>
            {
                ["kty"] = "RSA", ["use"] = "sig", ["alg"] = "RS256", ["kid"] = "test-key",
                ["n"] = Base64UrlEncoder.Encode(parameters.Modulus), ["e"] = Base64UrlEncoder.Encode(parameters.Exponent),
            };
            return context.Response.WriteAsync(JsonSerializer.Serialize(new { keys = new[] { key } }));
        }
        context.Response.StatusCode = StatusCodes.Status404NotFound;
        return Task.CompletedTask;
    }

    /// <summary>A signed token; <paramref name="expired"/> puts its lifetime in the past, <paramref name="foreignKey"/> signs with a key the JWKS lacks.</summary>
    public string Token(string audience, IReadOnlyDictionary<string, object> claims, bool expired = false, bool foreignKey = false, string? issuer = null)
    {
        var now = DateTime.UtcNow;
        var key = new RsaSecurityKey(foreignKey ? _stranger : _rsa) { KeyId = "test-key" };
        return new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
        {
            Issuer = issuer ?? Issuer,
            Audience = audience,
            Claims = claims.ToDictionary(),
            IssuedAt = expired ? now.AddHours(-2) : now,
            NotBefore = expired ? now.AddHours(-2) : now,
            Expires = expired ? now.AddHours(-1) : now.AddMinutes(10),
            SigningCredentials = new SigningCredentials(key, SecurityAlgorithms.RsaSha256),
        });
    }

    public async ValueTask DisposeAsync()
    {
        await _server.DisposeAsync();
        _rsa.Dispose();
        _stranger.Dispose();
    }
}
