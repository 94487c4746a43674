using Warren.Edge.Tokens;
using Warren.Protocol.Tunnel;

namespace Warren.Edge.Tests.Tokens;

/// <summary>What a token may claim: host patterns (exact, or "*.domain" for everything under it) and ports.</summary>
public sealed class TokenGrantTests
{
    [Theory]
    [InlineData("app.example.com", "app.example.com", true)]
    [InlineData("app.example.com", "APP.EXAMPLE.COM", true)]
    [InlineData("app.example.com", "other.example.com", false)]
    [InlineData("*.example.com", "a.example.com", true)]
    [InlineData("*.example.com", "a.b.example.com", true)]
    [InlineData("*.example.com", "*.example.com", true)]
    [InlineData("*.example.com", "example.com", false)]
    [InlineData("*.example.com", "evilexample.com", false)]
    [InlineData("*.example.com", "example.com.evil.org", false)]
    public void HostMatches_exact_names_and_everything_under_a_wildcard(string pattern, string host, bool expected) =>
        Assert.Equal(expected, TokenGrant.HostMatches(pattern, host));

    [Fact]
    public void Check_names_the_first_hostname_or_port_not_granted()
    {
        var grant = new TokenGrant("lab", ["*.lab.test"], [2222]);

        Assert.Null(grant.Check(new ServiceRegistration { Name = "web", Hostnames = ["a.lab.test", "b.lab.test"] }));
        Assert.Null(grant.Check(new ServiceRegistration { Name = "ssh", Kind = "tcp", Port = 2222 }));
        Assert.Equal("hostname evil.test is not granted to token 'lab'",
            grant.Check(new ServiceRegistration { Name = "web", Hostnames = ["a.lab.test", "evil.test"] }));
        Assert.Equal("port 22 is not granted to token 'lab'", grant.Check(new ServiceRegistration { Name = "ssh", Kind = "tcp", Port = 22 }));
    }
}
