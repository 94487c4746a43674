using System.Net;
using Microsoft.AspNetCore.Connections;

namespace Warren.Edge.Limits;

/// <summary>
/// Caps concurrent connections per client IP on the public listeners, so one host cannot take every connection
/// slot (Kestrel's own limit is global); an IPv6 /64 counts as well, with <c>limits.ipv6_subnet_factor</c> times the
/// cap (<see cref="ClientKey"/>). Connections over the cap are closed before any byte is read.
/// </summary>
internal sealed class PerIpConnectionLimiter(int maxPerIp, int subnetFactor)
{
    private readonly ClientCounter _open = new(maxPerIp, subnetFactor);
    private long _rejected;

    public long Rejected => Interlocked.Read(ref _rejected);

    /// <summary>limits.max_connections_per_ip changed on reload: new connections are held to it.</summary>
    public void SetCap(int perIp) => _open.SetPerAddress(perIp);

    public ConnectionDelegate Middleware(ConnectionDelegate next) => async connection =>
    {
        if (connection.RemoteEndPoint is not IPEndPoint { Address: var address })
        {
            await next(connection).ConfigureAwait(false);
            return;
        }
        using var lease = _open.TryAcquire(address);
        if (lease is null)
        {
            Interlocked.Increment(ref _rejected);
            connection.Abort(new ConnectionAbortedException($"over {_open.PerAddress} connections from {ClientKey.Of(address)}"));
            return;
        }
        await next(connection).ConfigureAwait(false);
    };
}
