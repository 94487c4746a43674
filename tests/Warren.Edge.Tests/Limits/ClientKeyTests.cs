using System.Net;
using Warren.Edge.Limits;

namespace Warren.Edge.Tests.Limits;

/// <summary>Who a client is for every per-IP limit: its address, and for IPv6 its /64 (docs/security.md "Per-client limits").</summary>
public sealed class ClientKeyTests
{
    [Fact]
    public void Keys_are_the_address_and_its_64_with_mapped_and_scoped_forms_folded()
    {
        Assert.Equal(ClientKey.Of(IPAddress.Parse("10.0.0.1")), ClientKey.Of(IPAddress.Parse("::ffff:10.0.0.1")));
        Assert.Null(ClientKey.SubnetOf(IPAddress.Parse("10.0.0.1")));
        Assert.Null(ClientKey.SubnetOf(IPAddress.Parse("::ffff:10.0.0.1")));
        Assert.Equal(ClientKey.Of(IPAddress.Parse("fe80::1%2")), ClientKey.Of(IPAddress.Parse("fe80::1%3")));

        Assert.Equal(ClientKey.SubnetOf(Addresses.A1), ClientKey.SubnetOf(Addresses.A2));
        Assert.Equal("2001:db8:1:2::/64", ClientKey.SubnetOf(Addresses.A1).ToString());
        Assert.NotEqual(ClientKey.SubnetOf(Addresses.A1), ClientKey.SubnetOf(Addresses.OtherSubnet));
        Assert.NotEqual(ClientKey.Of(Addresses.A1), ClientKey.Of(Addresses.A2));
        // The /64's key never stands for the one address that ends in zeros.
        Assert.NotEqual(ClientKey.Of(IPAddress.Parse("2001:db8:1:2::")), ClientKey.SubnetOf(Addresses.A1));
    }
}
