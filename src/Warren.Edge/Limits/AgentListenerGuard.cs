using System.Net;
using Microsoft.Extensions.Logging;
using Warren.Edge.Shield;

namespace Warren.Edge.Limits;

/// <summary>
/// What the agents listener checks at accept, before any TLS work, so a refused connection costs no handshake: the
/// connections one IP (and one IPv6 /64) may hold (limits.max_agent_connections_per_ip), and the login limit of
/// <see cref="AuthFailureLimiter"/> (an IP that used up its failures, or has as many logins in progress, is dropped),
/// and first of all the abuse shield's bans (<see cref="Shield"/>: failed logins count towards them, docs/policy.md
/// "Abuse shield"). 100 silent connections from one address used to be all kept; 60 parallel logins all got an answer.
/// </summary>
internal sealed partial class AgentListenerGuard(int maxConnectionsPerIp, int subnetFactor, AuthFailureLimiter logins, ILogger logger)
{
    private readonly ClientCounter _open = new(maxConnectionsPerIp, subnetFactor);

    /// <summary>limits.max_agent_connections_per_ip changed on reload: new agent connections are held to it.</summary>
    public void SetCap(int perIp) => _open.SetPerAddress(perIp);
    private long _overConnectionCap;

    /// <summary>The abuse shield, whose banned clients are dropped before anything else; null: none (unit tests).</summary>
    public AbuseShield? Shield { get; init; }
    private long _overLoginLimit;

    /// <summary>Connections closed at accept because the IP (or /64) held <c>max_agent_connections_per_ip</c> already.</summary>
    public long RejectedPerIp => Interlocked.Read(ref _overConnectionCap);

    /// <summary>Connections closed at accept because the IP's failed logins and logins in progress reached the limit.</summary>
    public long RejectedLogins => Interlocked.Read(ref _overLoginLimit);

    /// <summary>
    /// Admits the connection from <paramref name="remote"/>: its place under the per-IP cap and its login attempt, held
    /// until disposed (when the connection ends). Null: refused (logged and counted); close the connection.
    /// </summary>
    public IDisposable? TryAdmit(EndPoint? remote)
    {
        if (remote is not IPEndPoint endPoint)
        {
            return Admission.None;
        }
        if (Shield is { Count: > 0 } shield && shield.IsBanned(endPoint.Address))
        {
            shield.Metrics?.Refused(ShieldRefusal.Agent);
            Log.Banned(logger, ClientKey.Of(endPoint.Address).ToString());
            return null;
        }
        var lease = _open.TryAcquire(endPoint.Address);
        if (lease is null)
        {
            Interlocked.Increment(ref _overConnectionCap);
            Log.TooManyConnections(logger, ClientKey.Of(endPoint.Address).ToString(), _open.PerAddress);
            return null;
        }
        var attempt = logins.TryBegin(endPoint);
        if (attempt is null)
        {
            lease.Dispose();
            Interlocked.Increment(ref _overLoginLimit);
            Log.Blocked(logger, ClientKey.Of(endPoint.Address).ToString());
            return null;
        }
        return new Admission(lease, attempt);
    }

    private sealed class Admission(IDisposable? lease, IDisposable? attempt) : IDisposable
    {
        public static readonly Admission None = new(null, null);

        public void Dispose()
        {
            attempt?.Dispose();
            lease?.Dispose();
        }
    }

    private static partial class Log
    {
        [LoggerMessage(250, LogLevel.Warning, "Dropped an agent connection from {Remote} before TLS: too many failed authentications, or as many logins in progress (limits.max_auth_failures_per_ip)", EventName = "AgentBlocked")]
        public static partial void Blocked(ILogger logger, string remote);

        [LoggerMessage(252, LogLevel.Debug, "Dropped an agent connection from {Remote} before TLS: the address is banned by the abuse shield", EventName = "AgentBanned")]
        public static partial void Banned(ILogger logger, string remote);

        [LoggerMessage(251, LogLevel.Debug, "Dropped an agent connection from {Remote} before TLS: it already holds {Max} (limits.max_agent_connections_per_ip)", EventName = "AgentConnectionLimit")]
        public static partial void TooManyConnections(ILogger logger, string remote, int max);
    }
}
