using Microsoft.AspNetCore.Server.Kestrel.Core;
using Warren.Configuration;
using Warren.Edge.Agents;
using Warren.Edge.Hosting;
using Warren.Edge.Tcp;

namespace Warren.Edge.Limits;

/// <summary>
/// edge.yaml <c>limits</c> on hot reload (docs/operations.md, "Reload"): the limits whose limiter can take a new value
/// take it at once and hold for what comes next (new requests, connections, registrations; what is open keeps what
/// it has); the others are named as needing a restart, because the value is built into something made once at start
/// (Kestrel's connection counter, the per-client request limiters' partitions, the auth-failure windows, the idle
/// timeout of open streams).
/// </summary>
internal sealed class LiveLimits(KestrelServerLimits kestrel, PerIpConnectionLimiter perIp, AgentListenerGuard agents, TcpConnectionLimits tcp,
    RegistrationHandler registrations)
{
    private readonly KestrelServerLimits _kestrel = kestrel;
    private readonly PerIpConnectionLimiter _perIp = perIp;
    private readonly AgentListenerGuard _agents = agents;
    private readonly TcpConnectionLimits _tcp = tcp;
    private readonly RegistrationHandler _registrations = registrations;

    /// <summary>Every limit that applies live, by its YAML key; applying one sets it on its limiter.</summary>
    private static readonly (string Key, Func<EdgeLimitsConfig, object> Value, Action<LiveLimits, EdgeLimitsConfig> Apply)[] Live =
    [
        ("limits.max_request_body_size", l => l.MaxRequestBodySize, (x, l) => EdgeListeners.ApplyLiveLimits(x._kestrel, l)),
        ("limits.request_headers_timeout", l => l.RequestHeadersTimeout, (x, l) => EdgeListeners.ApplyLiveLimits(x._kestrel, l)),
        ("limits.min_request_body_data_rate", l => l.MinRequestBodyDataRate, (x, l) => EdgeListeners.ApplyLiveLimits(x._kestrel, l)),
        ("limits.min_response_data_rate", l => l.MinResponseDataRate, (x, l) => EdgeListeners.ApplyLiveLimits(x._kestrel, l)),
        ("limits.data_rate_grace_period", l => l.DataRateGracePeriod, (x, l) => EdgeListeners.ApplyLiveLimits(x._kestrel, l)),
        ("limits.max_connections_per_ip", l => l.MaxConnectionsPerIp, (x, l) => x._perIp.SetCap(l.MaxConnectionsPerIp)),
        ("limits.max_agent_connections_per_ip", l => l.MaxAgentConnectionsPerIp, (x, l) => x._agents.SetCap(l.MaxAgentConnectionsPerIp)),
        ("limits.max_tcp_connections_per_ip", l => l.MaxTcpConnectionsPerIp, (x, l) => x._tcp.PerIp.SetPerAddress(l.MaxTcpConnectionsPerIp)),
        ("limits.max_tcp_connections_per_service", l => l.MaxTcpConnectionsPerService, (x, l) => x._tcp.PerService = l.MaxTcpConnectionsPerService),
        ("limits.max_services_per_session", l => l.MaxServicesPerSession, (x, l) => x._registrations.MaxServicesPerSession = l.MaxServicesPerSession),
    ];

    /// <summary>The limits that need a restart, by YAML key.</summary>
    private static readonly (string Key, Func<EdgeLimitsConfig, object> Value)[] RestartOnly =
    [
        ("limits.max_connections", l => l.MaxConnections),
        ("limits.idle_timeout", l => l.IdleTimeout),
        ("limits.max_auth_failures_per_ip", l => l.MaxAuthFailuresPerIp),
        ("limits.auth_failure_window", l => l.AuthFailureWindow),
        ("limits.max_requests_per_ip_per_service", l => l.MaxRequestsPerIpPerService),
        ("limits.request_queue_timeout", l => l.RequestQueueTimeout),
        ("limits.ipv6_subnet_factor", l => l.Ipv6SubnetFactor),
        ("limits.max_connect_streams_per_session", l => l.MaxConnectStreamsPerSession),
    ];

    /// <summary>Every limit's YAML key: each is live or needs a restart, none is forgotten (a test holds this to EdgeLimitsConfig's properties).</summary>
    internal static IEnumerable<string> AllKeys => Live.Select(l => l.Key).Concat(RestartOnly.Select(l => l.Key));

    /// <summary>Sets every live limit that differs between <paramref name="current"/> and <paramref name="next"/>; the keys it set.</summary>
    public List<string> Apply(EdgeLimitsConfig current, EdgeLimitsConfig next)
    {
        var applied = new List<string>();
        foreach (var (key, value, apply) in Live)
        {
            if (!Equals(value(current), value(next)))
            {
                apply(this, next);
                applied.Add(key);
            }
        }
        return applied;
    }

    /// <summary>The restart-only limits that differ from what the edge started with.</summary>
    public static IEnumerable<string> RestartRequired(EdgeLimitsConfig started, EdgeLimitsConfig next) =>
        RestartOnly.Where(l => !Equals(l.Value(started), l.Value(next))).Select(l => l.Key);

    /// <summary>What is in force after a reload: <paramref name="next"/>'s live limits, the restart-only ones as started.</summary>
    public static EdgeLimitsConfig InForce(EdgeLimitsConfig started, EdgeLimitsConfig next) => next with
    {
        MaxConnections = started.MaxConnections,
        IdleTimeout = started.IdleTimeout,
        MaxAuthFailuresPerIp = started.MaxAuthFailuresPerIp,
        AuthFailureWindow = started.AuthFailureWindow,
        MaxRequestsPerIpPerService = started.MaxRequestsPerIpPerService,
        RequestQueueTimeout = started.RequestQueueTimeout,
        Ipv6SubnetFactor = started.Ipv6SubnetFactor,
    };
}
