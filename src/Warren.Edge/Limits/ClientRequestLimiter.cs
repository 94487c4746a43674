using System.Net;
using System.Threading.RateLimiting;
using Warren.Net.RateLimiting;

namespace Warren.Edge.Limits;

/// <summary>
/// limits.max_requests_per_ip_per_service: how many requests one client address, and one IPv6 /64 with
/// <c>ipv6_subnet_factor</c> times as many, may have in flight within one scope (a service). Requests over the cap wait
/// in arrival order for up to the queue timeout (so a fast client with many parallel requests is slowed, not
/// refused). Built on System.Threading.RateLimiting's concurrency limiters, one per scope and client, dropped 10 s after
/// they go idle. The request path's use of it is <c>Forwarding/ClientShare.cs</c>.
/// </summary>
internal sealed class ClientRequestLimiter : IDisposable
{
    private readonly PartitionedRateLimiter<(int Scope, IPAddress Client)> _perAddress;
    private readonly PartitionedRateLimiter<(int Scope, IPAddress Client)> _perSubnet;
    private readonly PartitionedRateLimiter<(int Scope, IPAddress Client)> _both;
    private readonly TimeSpan _queueTimeout;

    /// <param name="perAddress">Requests one address may have in flight in one scope.</param>
    /// <param name="subnetFactor">An IPv6 /64 may have this many times <paramref name="perAddress"/>.</param>
    /// <param name="queueLimit">Requests over the cap that may wait, per address and scope (beyond: refused at once).</param>
    /// <param name="queueTimeout">How long one may wait.</param>
    public ClientRequestLimiter(int perAddress, int subnetFactor, int queueLimit, TimeSpan queueTimeout)
    {
        _queueTimeout = queueTimeout;
        var perSubnet = (int)Math.Min(int.MaxValue, (long)perAddress * subnetFactor);
        // The partitioner runs on every request: the limiters' factories are made once here, so naming a request's
        // partition allocates nothing (RateLimitPartition.GetConcurrencyLimiter wraps its factory in a new closure
        // per call: about 180 B per request).
        Func<(int, ClientKey), RateLimiter> addressLimiter = _ => new ConcurrencyLimiter(Options(perAddress, queueLimit));
        Func<(int, ClientKey), RateLimiter> subnetLimiter = _ => new ConcurrencyLimiter(Options(perSubnet, queueLimit));
        _perAddress = new PartitionedLimiter<(int Scope, IPAddress Client), (int, ClientKey)>(r =>
            new RateLimitPartition<(int, ClientKey)>((r.Scope, ClientKey.Of(r.Client)), addressLimiter));
        _perSubnet = new PartitionedLimiter<(int Scope, IPAddress Client), (int, ClientKey)>(r =>
            ClientKey.SubnetOf(r.Client) is { } subnet
                ? new RateLimitPartition<(int, ClientKey)>((r.Scope, subnet), subnetLimiter)
                : RateLimitPartition.GetNoLimiter((r.Scope, default(ClientKey))));
        _both = PartitionedRateLimiter.CreateChained(_perAddress, _perSubnet);
    }

    private static ConcurrencyLimiterOptions Options(int permits, int queue) => new()
    {
        PermitLimit = permits,
        QueueLimit = queue,
        QueueProcessingOrder = QueueProcessingOrder.OldestFirst,
    };

    /// <summary>
    /// Takes one of <paramref name="client"/>'s places in <paramref name="scope"/>, waiting up to the queue timeout;
    /// null when the client is over its cap past that (or the queue is full, or <paramref name="cancellationToken"/>
    /// ended the wait). Dispose the lease when the request is done.
    /// </summary>
    public async ValueTask<IDisposable?> AcquireAsync(int scope, IPAddress client, CancellationToken cancellationToken)
    {
        var key = (scope, client);
        // IPv4 has no subnet partition: only the address's limiter (a no-op partition would never idle out, and keep
        // the partitions' timer running in an idle edge).
        var limiter = ClientKey.SubnetOf(client) is null ? _perAddress : _both;
        // The fast path takes no timer; with OldestFirst it fails while others wait, so it never jumps the queue.
        var lease = limiter.AttemptAcquire(key);
        if (!lease.IsAcquired)
        {
            lease.Dispose();
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(_queueTimeout);
            try
            {
                lease = await limiter.AcquireAsync(key, 1, timeout.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return null;
            }
        }
        if (lease.IsAcquired)
        {
            return lease;
        }
        lease.Dispose();
        return null;
    }

    public void Dispose()
    {
        _both.Dispose();
        _perAddress.Dispose();
        _perSubnet.Dispose();
    }
}
