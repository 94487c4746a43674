using System.Collections.Concurrent;
using System.Net;
using System.Net.Http;

namespace Warren.OperationsTests.Harness;

/// <summary>
/// Steady HTTP load while an operator restarts or reloads something: a few workers each sending one request after
/// another until stopped, bounded in time by the caller. Every answer and every failure is recorded.
/// </summary>
internal sealed class RequestLoop : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly Task[] _workers;
    private readonly ConcurrentQueue<string> _failures = new();
    private long _ok;

    private RequestLoop(HttpClient client, Func<HttpRequestMessage> request, int workers, TestLog log)
    {
        _workers = [.. Enumerable.Range(0, workers).Select(i => Task.Run(() => RunAsync(client, request, i, log)))];
    }

    /// <summary>Starts <paramref name="workers"/> loops of <paramref name="request"/>.</summary>
    public static RequestLoop Start(HttpClient client, Func<HttpRequestMessage> request, TestLog log, int workers = 4) => new(client, request, workers, log);

    /// <summary>Requests answered 200 so far.</summary>
    public long Ok => Interlocked.Read(ref _ok);

    /// <summary>Every answer that was not 200, and every request that failed, with when and why.</summary>
    public IReadOnlyCollection<string> Failures => _failures;

    /// <summary>Waits until <paramref name="more"/> further requests were answered 200 (the load really ran across the event).</summary>
    public Task WaitForMoreAsync(long more, string what)
    {
        var target = Ok + more;
        return Wait.UntilAsync(() => Ok >= target || !_failures.IsEmpty, what);
    }

    private async Task RunAsync(HttpClient client, Func<HttpRequestMessage> request, int worker, TestLog log)
    {
        while (!_stop.IsCancellationRequested)
        {
            try
            {
                using var message = request();
                using var response = await client.SendAsync(message, _stop.Token);
                var body = await response.Content.ReadAsStringAsync(_stop.Token);
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    Interlocked.Increment(ref _ok);
                }
                else
                {
                    _failures.Enqueue($"worker {worker}: {(int)response.StatusCode} {body}");
                    log.Note($"worker {worker}: {(int)response.StatusCode}");
                }
            }
            catch (OperationCanceledException) when (_stop.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex) when (ex is HttpRequestException or IOException or TaskCanceledException)
            {
                _failures.Enqueue($"worker {worker}: {ex.GetType().Name}: {ex.Message} {ex.InnerException?.Message}");
                log.Note($"worker {worker}: {ex.Message} {ex.InnerException?.GetType().Name}: {ex.InnerException?.Message}");
            }
        }
    }

    /// <summary>Stops the workers (a request in flight is abandoned, not counted); a second call does nothing.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        await _stop.CancelAsync();
        await Task.WhenAll(_workers);
        _stop.Dispose();
    }

    private int _disposed;
}
