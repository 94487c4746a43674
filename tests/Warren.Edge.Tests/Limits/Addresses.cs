using System.Net;
using Microsoft.AspNetCore.Connections;

namespace Warren.Edge.Tests.Limits;

/// <summary>Client addresses for the limit tests: three in one IPv6 /64, one in the next /64.</summary>
internal static class Addresses
{
    public static readonly IPAddress A1 = IPAddress.Parse("2001:db8:1:2::1");
    public static readonly IPAddress A2 = IPAddress.Parse("2001:db8:1:2:ffff::2");
    public static readonly IPAddress A3 = IPAddress.Parse("2001:db8:1:2::3");
    public static readonly IPAddress OtherSubnet = IPAddress.Parse("2001:db8:1:3::1");

    /// <summary>A connection from <paramref name="address"/>, as a listener's middleware sees it.</summary>
    public static DefaultConnectionContext Connection(IPAddress address) =>
        new(Guid.NewGuid().ToString("n")) { RemoteEndPoint = new IPEndPoint(address, 40000) };
}
