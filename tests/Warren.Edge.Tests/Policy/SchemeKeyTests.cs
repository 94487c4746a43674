using System.Text.Json;
using Warren.Edge.Policy;

namespace Warren.Edge.Tests.Policy;

/// <summary>
/// The key policies share an authentication scheme by (Policy/SchemeKey.cs). An OIDC login's cookie names come from
/// its hash, so it must be byte for byte what reflection-based <see cref="JsonSerializer"/> wrote for the same
/// settings before: otherwise an upgrade would sign every user out. These tests run with reflection on, so they
/// compare the two directly.
/// </summary>
public sealed class SchemeKeyTests
{
    public static TheoryData<object?[]> Settings => new()
    {
        new object?[] { "https://issuer.example/", new[] { "api", "web" }, null, "https://issuer.example/jwks" },
        new object?[]
        {
            "https://login.example/realms/ä \"quoted\" <tag> & 'x'", null, "client\u0001id", (IReadOnlyList<string>)["openid", "profile", "email"],
            "/_warren/oidc/callback", "/_warren/oidc/logout", ".example.com", TimeSpan.FromHours(12).Ticks, "groups",
            new Dictionary<string, string> { ["X-User"] = "sub", ["X-Email"] = "email" }.Values.Order(StringComparer.Ordinal),
        },
        new object?[] { "", Array.Empty<string>(), "😀", long.MaxValue, -1L },
    };

    [Theory]
    [MemberData(nameof(Settings))]
    public void The_key_is_what_JsonSerializer_wrote_for_the_same_settings(object?[] parts) =>
        Assert.Equal(JsonSerializer.Serialize(parts), SchemeKey.Of(parts));

    [Fact]
    public void A_part_of_another_kind_is_refused_rather_than_written_some_other_way() =>
        Assert.Throws<ArgumentException>(() => SchemeKey.Of("issuer", 1.5));
}
