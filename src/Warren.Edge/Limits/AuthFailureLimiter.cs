using System.Net;
using System.Threading.RateLimiting;

namespace Warren.Edge.Limits;

/// <summary>
/// Limits failed agent authentications per source IP: past <c>maxFailures</c> within <c>window</c>
/// (edge.yaml limits.max_auth_failures_per_ip, limits.auth_failure_window), new connections from that IP are dropped
/// before any work until the window ends (token brute force).
/// </summary>
internal sealed class AuthFailureLimiter(int maxFailures, TimeSpan window) : IDisposable
{
    private readonly PartitionedRateLimiter<IPAddress> _failures = PartitionedRateLimiter.Create<IPAddress, IPAddress>(ip =>
        RateLimitPartition.GetFixedWindowLimiter(ip, _ => new FixedWindowRateLimiterOptions
        {
            PermitLimit = maxFailures,
            Window = window,
            QueueLimit = 0,
        }));

    /// <summary>True when <paramref name="address"/> used up its failures for the current window.</summary>
    public bool IsBlocked(IPAddress? address) => address is not null && _failures.GetStatistics(Normalize(address))?.CurrentAvailablePermits == 0;

    public void RecordFailure(IPAddress? address)
    {
        if (address is not null)
        {
            using var lease = _failures.AttemptAcquire(Normalize(address));
        }
    }

    // ::ffff:10.0.0.1 and 10.0.0.1 are the same client.
    private static IPAddress Normalize(IPAddress address) => address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;

    public void Dispose() => _failures.Dispose();
}
