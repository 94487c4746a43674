using System.Collections.Concurrent;
using System.Net;

namespace Warren.Edge.Limits;

/// <summary>
/// Counts what each client holds at once (connections, streams) within a scope (a listener, or one service) against
/// a cap per address and, for IPv6, a cap per /64 of <c>perAddress × subnetFactor</c> (limits.ipv6_subnet_factor).
/// Lock-free; the table holds only clients that hold something.
/// </summary>
internal sealed class ClientCounter
{
    private readonly ConcurrentDictionary<(int Scope, ClientKey Client), int> _held = new();
    private readonly int _subnetFactor;
    private volatile Caps _caps;

    private sealed record Caps(int PerAddress, int PerSubnet);

    public ClientCounter(int perAddress, int subnetFactor)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(subnetFactor, 1);
        _subnetFactor = subnetFactor;
        _caps = CapsFor(perAddress);
    }

    private Caps CapsFor(int perAddress)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(perAddress, 1);
        return new Caps(perAddress, (int)Math.Min(int.MaxValue, (long)perAddress * _subnetFactor));
    }

    public int PerAddress => _caps.PerAddress;

    /// <summary>What one IPv6 /64 may hold together.</summary>
    public int PerSubnet => _caps.PerSubnet;

    /// <summary>
    /// A new cap per address (hot reload, docs/operations.md "Reload"): what clients hold now stays held; a client
    /// over a lowered cap takes nothing more until it is under it.
    /// </summary>
    public void SetPerAddress(int perAddress) => _caps = CapsFor(perAddress);

    /// <summary>Clients (addresses and /64s) holding something now: the table's size, for tests.</summary>
    public int Count => _held.Count;

    /// <summary>
    /// Takes one unit for <paramref name="address"/> in <paramref name="scope"/>; nothing is taken when the
    /// address or its /64 already holds its cap (null comes back). Give it back with <see cref="Lease.Dispose"/>.
    /// </summary>
    public Lease? TryAcquire(IPAddress address, int scope = 0)
    {
        var key = ClientKey.Of(address);
        var caps = _caps;
        if (!TryTake((scope, key), caps.PerAddress))
        {
            return null;
        }
        var subnet = ClientKey.SubnetOf(key.Address);
        if (subnet is { } s && !TryTake((scope, s), caps.PerSubnet))
        {
            Release((scope, key));
            return null;
        }
        return new Lease(this, scope, key, subnet);
    }

    private bool TryTake((int, ClientKey) key, int cap)
    {
        if (_held.AddOrUpdate(key, 1, static (_, n) => n + 1) <= cap)
        {
            return true;
        }
        Release(key);
        return false;
    }

    private void Release((int, ClientKey) key)
    {
        // Drop the entry at zero so the table only holds clients that hold something.
        while (true)
        {
            var current = _held.GetValueOrDefault(key);
            if (current <= 1)
            {
                if (_held.TryRemove(new KeyValuePair<(int, ClientKey), int>(key, current)) || current == 0)
                {
                    return;
                }
            }
            else if (_held.TryUpdate(key, current - 1, current))
            {
                return;
            }
        }
    }

    /// <summary>One unit held by a client; disposing gives it back, once however often it is called.</summary>
    public sealed class Lease(ClientCounter owner, int scope, ClientKey client, ClientKey? subnet) : IDisposable
    {
        private int _disposed;

        public ClientKey Client { get; } = client;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) != 0)
            {
                return;
            }
            owner.Release((scope, Client));
            if (subnet is { } s)
            {
                owner.Release((scope, s));
            }
        }
    }
}
