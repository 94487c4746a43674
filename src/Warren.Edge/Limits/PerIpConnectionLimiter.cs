using System.Collections.Concurrent;
using System.Net;
using Microsoft.AspNetCore.Connections;

namespace Warren.Edge.Limits;

/// <summary>
/// Caps concurrent connections per client IP on the public listeners, so one host cannot take every connection
/// slot (Kestrel's own limit is global). Connections over the cap are closed before any byte is read.
/// </summary>
internal sealed class PerIpConnectionLimiter(int maxPerIp)
{
    private readonly ConcurrentDictionary<IPAddress, int> _open = new();
    private long _rejected;

    public long Rejected => Interlocked.Read(ref _rejected);

    public ConnectionDelegate Middleware(ConnectionDelegate next) => async connection =>
    {
        if (connection.RemoteEndPoint is not IPEndPoint { Address: var raw })
        {
            await next(connection).ConfigureAwait(false);
            return;
        }
        var address = raw.IsIPv4MappedToIPv6 ? raw.MapToIPv4() : raw;
        if (_open.AddOrUpdate(address, 1, static (_, n) => n + 1) > maxPerIp)
        {
            Release(address);
            Interlocked.Increment(ref _rejected);
            connection.Abort(new ConnectionAbortedException($"over {maxPerIp} connections from {address}"));
            return;
        }
        try
        {
            await next(connection).ConfigureAwait(false);
        }
        finally
        {
            Release(address);
        }
    };

    private void Release(IPAddress address)
    {
        // Drop the entry at zero so the table only holds addresses with open connections.
        while (true)
        {
            var current = _open.GetValueOrDefault(address);
            if (current <= 1)
            {
                if (_open.TryRemove(new KeyValuePair<IPAddress, int>(address, current)) || current == 0)
                {
                    return;
                }
            }
            else if (_open.TryUpdate(address, current - 1, current))
            {
                return;
            }
        }
    }
}
