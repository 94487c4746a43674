using System.Security.Cryptography;
using System.Text;
using Warren.Configuration;
using Warren.Edge.Tokens;

namespace Warren.Edge.Tests.Tokens;

/// <summary>Token validation: secrets from edge.yaml (plain or as SHA-256) and from the token store, revocation.</summary>
public sealed class TokenValidatorTests : IDisposable
{
    private readonly string _data = Directory.CreateTempSubdirectory("warren-edge-tests-").FullName;

    [Fact]
    public void Configured_token_validates_to_its_grant_and_anything_else_to_null()
    {
        using var tokens = new TokenValidator([Config("lab", "s3cret-token", ["*.lab.test"])]);

        Assert.Equal("lab", tokens.Validate("s3cret-token")?.Name);
        Assert.Equal(["*.lab.test"], tokens.Validate("s3cret-token")!.AllowHosts);
        Assert.Null(tokens.Validate("s3cret-tokeN"));
        Assert.Null(tokens.Validate(""));
        Assert.Null(tokens.Validate(null));
    }

    [Fact]
    public void Token_configured_by_its_SHA256_validates_with_the_secret()
    {
        var hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes("hashed-secret")));
        using var tokens = new TokenValidator([new EdgeTokenConfig { Name = "hashed", TokenSha256 = hash, AllowHosts = ["h.test"] }]);

        Assert.Equal("hashed", tokens.Validate("hashed-secret")?.Name);
        Assert.Null(tokens.Validate(hash));
    }

    [Fact]
    public void Secret_longer_than_the_limit_is_refused_before_hashing()
    {
        var secret = new string('x', TokenValidator.MaxTokenLength + 1);
        using var tokens = new TokenValidator([Config("long", secret, ["l.test"])]);

        Assert.Null(tokens.Validate(secret));
    }

    [Fact]
    public void Stored_token_validates_with_its_grants_and_revocation_is_reported_by_name()
    {
        string secret;
        using (var store = new TokenStore(_data))
        {
            secret = store.Create("stored", ["*.stored.test"], [2222], maxSessions: 2);
        }
        using var tokens = new TokenValidator([], new TokenStore(_data), refreshInterval: TimeSpan.FromDays(1));
        var grant = tokens.Validate(secret);
        Assert.Equal(("stored", 2222, 2), (grant?.Name, grant?.AllowPorts.Single(), grant?.MaxSessions));
        var revoked = new List<string>();
        tokens.TokensRevoked += names => revoked.AddRange(names);

        using (var store = new TokenStore(_data))
        {
            Assert.True(store.Revoke("stored"));
        }
        tokens.Refresh();

        Assert.Equal(["stored"], revoked);
        Assert.Null(tokens.Validate(secret));
    }

    [Fact]
    public void Refresh_after_dispose_does_nothing_instead_of_reading_the_closed_store()
    {
        // The refresh timer can fire while the edge stops; an exception on its thread ended the whole process.
        using (var store = new TokenStore(_data))
        {
            store.Create("stored", ["*.stored.test"], [], maxSessions: null);
        }
        var tokens = new TokenValidator([], new TokenStore(_data), refreshInterval: TimeSpan.FromDays(1));
        using (var store = new TokenStore(_data))
        {
            Assert.True(store.Revoke("stored")); // the next refresh would read the store
        }
        var revoked = 0;
        tokens.TokensRevoked += _ => revoked++;

        tokens.Dispose();
        tokens.Refresh();

        Assert.Equal(0, revoked);
    }

    private static EdgeTokenConfig Config(string name, string token, IReadOnlyList<string> hosts) =>
        new() { Name = name, Token = token, AllowHosts = hosts };

    public void Dispose() => Directory.Delete(_data, recursive: true);
}
