using Warren.Configuration;
using Warren.Edge.Limits;

namespace Warren.Edge.Tcp;

/// <summary>
/// What one TCP service accepts at once: <c>limits.max_tcp_connections_per_ip</c> from one client address (and
/// <c>ipv6_subnet_factor</c> times that from one IPv6 /64), <c>limits.max_tcp_connections_per_service</c> from all
/// clients together. 700 idle connections from one address used to take every slot of the agent and stop new clients.
/// </summary>
internal sealed class TcpConnectionLimits(EdgeLimitsConfig limits)
{
    /// <summary>Connections per client, scoped by service id.</summary>
    public ClientCounter PerIp { get; } = new(limits.MaxTcpConnectionsPerIp, limits.Ipv6SubnetFactor);

    private volatile int _perService = limits.MaxTcpConnectionsPerService;

    /// <summary>Connections all clients together may hold to one service; set again on reload (new connections only).</summary>
    public int PerService
    {
        get => _perService;
        set => _perService = value;
    }
}
