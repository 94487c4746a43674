using System.Collections.Concurrent;
using System.Net.Sockets;

namespace Warren.OperationsTests.Harness;

/// <summary>
/// Steady TCP connection load while an operator restarts or upgrades something: a few workers each connecting to an
/// echo port, echoing one line and closing, one connection after another until stopped. A refused connection, a
/// reset or a wrong echo is recorded as a failure.
/// </summary>
internal sealed class TcpLoop : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly Task[] _workers;
    private readonly ConcurrentQueue<string> _failures = new();
    private long _ok;

    private TcpLoop(int port, int workers, TestLog log) =>
        _workers = [.. Enumerable.Range(0, workers).Select(i => Task.Run(() => RunAsync(port, i, log)))];

    public static TcpLoop Start(int port, TestLog log, int workers = 2) => new(port, workers, log);

    /// <summary>Connections that echoed correctly so far.</summary>
    public long Ok => Interlocked.Read(ref _ok);

    public IReadOnlyCollection<string> Failures => _failures;

    /// <summary>Waits until <paramref name="more"/> further connections echoed (the load really ran across the event).</summary>
    public Task WaitForMoreAsync(long more, string what)
    {
        var target = Ok + more;
        return Wait.UntilAsync(() => Ok >= target || !_failures.IsEmpty, what);
    }

    private async Task RunAsync(int port, int worker, TestLog log)
    {
        for (var n = 0; !_stop.IsCancellationRequested; n++)
        {
            var text = $"worker {worker} connection {n}";
            try
            {
                using var connection = await EchoConnection.ConnectAsync(port, _stop.Token);
                var echoed = await connection.EchoAsync(text, _stop.Token);
                if (echoed == text)
                {
                    Interlocked.Increment(ref _ok);
                }
                else
                {
                    _failures.Enqueue($"worker {worker}: echoed '{echoed}' for '{text}'");
                    log.Note($"tcp worker {worker}: wrong echo '{echoed}'");
                }
            }
            catch (OperationCanceledException) when (_stop.IsCancellationRequested)
            {
                return;
            }
            catch (SocketException ex)
            {
                _failures.Enqueue($"worker {worker}: {ex.SocketErrorCode}: {ex.Message}");
                log.Note($"tcp worker {worker}: {ex.SocketErrorCode}");
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_stop.IsCancellationRequested)
        {
            return;
        }
        await _stop.CancelAsync();
        await Task.WhenAll(_workers);
        _stop.Dispose();
    }
}
