using System.Collections.Concurrent;
using System.Net;
using Microsoft.Extensions.Logging;
using Warren.Edge.Routing;

namespace Warren.Edge.Policy;

/// <summary>
/// A TCP service's policy, checked when a client connects (docs/policy.md, "TCP services"): every layer's ip lists and
/// connection_rate, then the lowest max_connections_per_ip. The connection holds its per-IP slot until it closes.
/// </summary>
internal sealed partial class TcpPolicyGate(PolicyRateLimiter limiter, PolicyMetrics? metrics, ILogger logger, Shield.AbuseShield? shield = null)
{
    private readonly ConcurrentDictionary<(int Service, IPAddress Client), int> _open = new();

    /// <summary>Null when the connection is refused; else a slot to dispose when it closes.</summary>
    public IDisposable? Admit(ServiceEntry service, ServicePolicy policy, IPAddress? client)
    {
        client = ClientAddress.Normalize(client) ?? IPAddress.None;
        foreach (var layer in policy.Layers)
        {
            if (layer.Ip is { } ip && !ip.Allows(client))
            {
                return Deny(service, layer.Name, PolicyDenial.IpDenied, client);
            }
            if (layer.ConnectionRate is { } rate && !limiter.TryAcquire(rate, service.Id, client, out _))
            {
                return Deny(service, layer.Name, PolicyDenial.RateLimited, client);
            }
        }
        if (policy.MaxConnectionsPerIp is not { } max)
        {
            return NoSlot.Instance;
        }
        var key = (service.Id, client);
        if (_open.AddOrUpdate(key, 1, static (_, n) => n + 1) > max)
        {
            Release(key);
            return Deny(service, policy.Description, PolicyDenial.TooManyConnections, client);
        }
        return new Slot(this, key);
    }

    private void Release((int, IPAddress) key)
    {
        // Entries at zero are removed, so the table holds only clients with open connections.
        if (_open.AddOrUpdate(key, 0, static (_, n) => n - 1) <= 0)
        {
            _open.TryRemove(new KeyValuePair<(int, IPAddress), int>(key, 0));
        }
    }

    private IDisposable? Deny(ServiceEntry service, string layer, PolicyDenial reason, IPAddress client)
    {
        metrics?.Denied(service, reason);
        Log.Denied(logger, service.Name, layer, client.ToString(), reason);
        if (reason is PolicyDenial.RateLimited or PolicyDenial.TooManyConnections)
        {
            shield?.Strike(client, Shield.StrikeKind.LimitHit); // docs/policy.md, "Abuse shield"
        }
        return null;
    }

    private sealed class Slot(TcpPolicyGate gate, (int, IPAddress) key) : IDisposable
    {
        private int _released;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _released, 1) == 0)
            {
                gate.Release(key);
            }
        }
    }

    private sealed class NoSlot : IDisposable
    {
        public static readonly NoSlot Instance = new();

        public void Dispose()
        {
        }
    }

    private static partial class Log
    {
        [LoggerMessage(701, LogLevel.Debug, "TCP service {Service}: {Layer} refused a connection from {Client} ({Reason})", EventName = "TcpPolicyDenied")]
        public static partial void Denied(ILogger logger, string service, string layer, string client, PolicyDenial reason);
    }
}
