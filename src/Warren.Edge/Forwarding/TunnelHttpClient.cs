using System.Net.Http;

namespace Warren.Edge.Forwarding;

/// <summary>
/// Holds the HTTP client the forwarder sends through (<see cref="TunnelHttpClientFactory"/>). Its pooled keep-alive
/// connections are open tunnel streams, and a session that goes away (agent or edge shutting down) cannot finish
/// draining while any stream is open: idle pooled connections held every SIGTERM for the whole grace period. When a
/// session goes away the client is replaced: requests in flight finish on the old one, whose idle connections close.
/// </summary>
internal sealed class TunnelHttpClient(TimeSpan openTimeout) : IDisposable
{
    /// <summary>A request that took the old client just before the swap has this long to start sending on it.</summary>
    private static readonly TimeSpan RetireDelay = TimeSpan.FromSeconds(1);

    private HttpMessageInvoker _current = TunnelHttpClientFactory.Create(openTimeout);
    private readonly Lock _lock = new();
    private bool _disposed;

    public HttpMessageInvoker Invoker => Volatile.Read(ref _current);

    /// <summary>Starts a fresh pool; the old one closes its idle connections (shortly) and its busy ones when done.</summary>
    public void RecycleIdleConnections()
    {
        HttpMessageInvoker retired;
        lock (_lock)
        {
            if (_disposed)
            {
                return;
            }
            retired = Interlocked.Exchange(ref _current, TunnelHttpClientFactory.Create(openTimeout));
        }
        _ = Task.Delay(RetireDelay).ContinueWith(_ => retired.Dispose(), CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default);
    }

    public void Dispose()
    {
        lock (_lock)
        {
            _disposed = true;
        }
        _current.Dispose();
    }
}
