using System.Net;
using System.Threading.RateLimiting;
using Warren.Net.RateLimiting;

namespace Warren.Admin;

/// <summary>
/// Failed console logins per client address: a fixed window of a minute (System.Threading.RateLimiting). The admin
/// token is at least 16 characters, so guessing is hopeless anyway; this keeps a guesser from costing CPU and log lines.
/// </summary>
internal sealed class LoginLimiter(int perMinute) : IDisposable
{
    private readonly PartitionedRateLimiter<IPAddress> _failures = new PartitionedLimiter<IPAddress, IPAddress>(address =>
        RateLimitPartition.GetFixedWindowLimiter(address, _ => new FixedWindowRateLimiterOptions
        {
            PermitLimit = perMinute,
            Window = TimeSpan.FromMinutes(1),
            QueueLimit = 0,
        }));

    /// <summary>Counts a failure; false when the address is over its budget.</summary>
    public bool TryFail(IPAddress? address)
    {
        using var lease = _failures.AttemptAcquire(address ?? IPAddress.None);
        return lease.IsAcquired;
    }

    /// <summary>Whether the address may try at all now (without counting).</summary>
    public bool MayTry(IPAddress? address)
    {
        var statistics = _failures.GetStatistics(address ?? IPAddress.None);
        return statistics is null || statistics.CurrentAvailablePermits > 0;
    }

    public void Dispose() => _failures.Dispose();
}
