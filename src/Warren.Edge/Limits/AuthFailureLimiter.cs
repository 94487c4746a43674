using System.Net;
using System.Threading.RateLimiting;
using Warren.Edge.Shield;
using Warren.Net.RateLimiting;

namespace Warren.Edge.Limits;

/// <summary>
/// Limits agent logins per source IP (token brute force): past <c>maxFailures</c> failures within <c>window</c>
/// (edge.yaml limits.max_auth_failures_per_ip, limits.auth_failure_window) new connections from that IP are dropped
/// before the TLS handshake until the window ends. Logins still in progress count too: failures so far plus logins in
/// flight may never exceed the limit, so opening many logins at once gets no more guesses than one after another
/// (60 parallel logins were all answered with a limit of 10). An IPv6 /64 counts as well, with
/// <c>limits.ipv6_subnet_factor</c> times the limit (<see cref="ClientKey"/>). A login is in flight from accept
/// (<see cref="TryBegin"/>, by <see cref="AgentListenerGuard"/>) until the handler decides it
/// (<see cref="RecordFailure"/>, <see cref="Succeeded"/>) or the connection ends; the connection's remote end point
/// names it. Each failure is also a strike with the abuse shield (<c>shield.auth_failures</c>), which bans the address
/// edge-wide past its threshold (docs/policy.md, "Abuse shield").
/// </summary>
internal sealed class AuthFailureLimiter : IDisposable
{
    private readonly Lock _lock = new();
    private readonly Dictionary<ClientKey, int> _inFlight = [];
    private readonly Dictionary<EndPoint, Attempt> _attempts = [];
    private readonly PartitionedRateLimiter<ClientKey> _failures;
    private readonly AbuseShield? _shield;

    public AuthFailureLimiter(int maxFailures, TimeSpan window, int subnetFactor, AbuseShield? shield = null)
    {
        _shield = shield;
        var maxSubnetFailures = (int)Math.Min(int.MaxValue, (long)maxFailures * subnetFactor);
        _failures = new PartitionedLimiter<ClientKey, ClientKey>(key =>
            RateLimitPartition.GetFixedWindowLimiter(key, k => new FixedWindowRateLimiterOptions
            {
                PermitLimit = k.IsSubnet ? maxSubnetFailures : maxFailures,
                Window = window,
                QueueLimit = 0,
            }));
    }

    /// <summary>True when <paramref name="address"/> (or its /64) used up its failures for the current window.</summary>
    public bool IsBlocked(IPAddress? address)
    {
        if (address is null)
        {
            return false;
        }
        lock (_lock)
        {
            return Keys(address).Any(k => Available(k) == 0);
        }
    }

    /// <summary>
    /// Starts the login of the connection from <paramref name="remote"/>; null when its address's failures in this
    /// window and the logins it has in progress already reach the limit (the connection is to be dropped). The attempt
    /// ends with <see cref="RecordFailure"/>, <see cref="Succeeded"/>, or its disposal when the connection ends.
    /// </summary>
    public Attempt? TryBegin(IPEndPoint remote)
    {
        var keys = Keys(remote.Address);
        lock (_lock)
        {
            foreach (var key in keys)
            {
                if (_inFlight.GetValueOrDefault(key) >= Available(key))
                {
                    return null;
                }
            }
            foreach (var key in keys)
            {
                _inFlight[key] = _inFlight.GetValueOrDefault(key) + 1;
            }
            var attempt = new Attempt(this, remote, keys);
            _attempts[remote] = attempt;
            return attempt;
        }
    }

    /// <summary>Counts a failed login from <paramref name="remote"/>, ending its attempt so it is not counted twice.</summary>
    public void RecordFailure(EndPoint? remote)
    {
        Attempt? attempt = null;
        lock (_lock)
        {
            if (remote is null || !_attempts.TryGetValue(remote, out attempt))
            {
                if (remote is IPEndPoint { Address: var address })
                {
                    CountFailureUnsynchronized(Keys(address));
                }
            }
        }
        attempt?.Failed();
        if (remote is IPEndPoint { Address: var client })
        {
            _shield?.Strike(client, StrikeKind.AuthFailure); // outside the lock: the shield may ban, log and queue a write
        }
    }

    /// <summary>The login from <paramref name="remote"/> succeeded: its session no longer counts as an attempt.</summary>
    public void Succeeded(EndPoint? remote)
    {
        Attempt? attempt = null;
        lock (_lock)
        {
            if (remote is not null)
            {
                _attempts.TryGetValue(remote, out attempt);
            }
        }
        attempt?.Dispose();
    }

    private int Available(ClientKey key) => (int)(_failures.GetStatistics(key)?.CurrentAvailablePermits ?? 0);

    private static ClientKey[] Keys(IPAddress address) => ClientKey.SubnetOf(address) is { } subnet ? [ClientKey.Of(address), subnet] : [ClientKey.Of(address)];

    private void CountFailureUnsynchronized(ClientKey[] keys)
    {
        foreach (var key in keys)
        {
            using var lease = _failures.AttemptAcquire(key);
        }
    }

    private void End(Attempt attempt, ClientKey[] keys, bool failed)
    {
        lock (_lock)
        {
            if (_attempts.TryGetValue(attempt.Remote, out var current) && current == attempt)
            {
                _attempts.Remove(attempt.Remote);
            }
            foreach (var key in keys)
            {
                var n = _inFlight.GetValueOrDefault(key) - 1;
                if (n <= 0)
                {
                    _inFlight.Remove(key);
                }
                else
                {
                    _inFlight[key] = n;
                }
            }
            if (failed)
            {
                CountFailureUnsynchronized(keys);
            }
        }
    }

    public void Dispose() => _failures.Dispose();

    /// <summary>A login in progress, from accept until it is decided or its connection ends.</summary>
    internal sealed class Attempt(AuthFailureLimiter owner, IPEndPoint remote, ClientKey[] keys) : IDisposable
    {
        private int _ended;

        public IPEndPoint Remote { get; } = remote;

        /// <summary>Ends the attempt as a failure: from now on it counts in the failure window instead.</summary>
        public void Failed()
        {
            if (Interlocked.Exchange(ref _ended, 1) == 0)
            {
                owner.End(this, keys, failed: true);
            }
        }

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _ended, 1) == 0)
            {
                owner.End(this, keys, failed: false);
            }
        }
    }
}
