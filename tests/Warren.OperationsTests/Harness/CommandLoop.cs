using System.Collections.Concurrent;
using Warren.Testing.Servers;

namespace Warren.OperationsTests.Harness;

/// <summary>
/// A real client program run again and again while an operator restarts or upgrades something (pgbench with a new
/// connection per transaction, an ssh login): one run after another until stopped, each bounded in time. A run
/// that exits non-zero is a failure, recorded with its output.
/// </summary>
internal sealed class CommandLoop : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentQueue<string> _failures = new();
    private readonly Task _worker;
    private long _ok;

    private CommandLoop(TestLog log, string name, string file, IReadOnlyList<string> arguments, string? user) =>
        _worker = Task.Run(() => RunAsync(log, name, file, arguments, user));

    public static CommandLoop Start(TestLog log, string name, string file, IReadOnlyList<string> arguments, string? user = null) =>
        new(log, name, file, arguments, user);

    /// <summary>Runs that exited 0 so far.</summary>
    public long Ok => Interlocked.Read(ref _ok);

    public IReadOnlyCollection<string> Failures => _failures;

    /// <summary>Waits until <paramref name="more"/> further runs succeeded (the load really ran across the event).</summary>
    public Task WaitForMoreAsync(long more, string what)
    {
        var target = Ok + more;
        return Wait.UntilAsync(() => Ok >= target || !_failures.IsEmpty, what, TimeSpan.FromSeconds(120));
    }

    private async Task RunAsync(TestLog log, string name, string file, IReadOnlyList<string> arguments, string? user)
    {
        for (var n = 0; !_stop.IsCancellationRequested; n++)
        {
            try
            {
                // Not cancelled by the stop: a run in progress finishes, so a stop never counts as a failure.
                var (code, output) = await ExternalProcess.RunAsync(log, $"{name}#{n}", file, arguments, TimeSpan.FromMinutes(2), user);
                if (code == 0)
                {
                    Interlocked.Increment(ref _ok);
                }
                else
                {
                    _failures.Enqueue($"{name} run {n} exited {code}: {output}");
                }
            }
            catch (TimeoutException ex)
            {
                _failures.Enqueue($"{name} run {n}: {ex.Message}");
            }
            if (!_failures.IsEmpty)
            {
                // The test fails already; no busy loop against a port that refuses (a run then takes milliseconds).
                await Task.Delay(200, CancellationToken.None);
            }
        }
    }

    /// <summary>Lets the run in progress finish and stops; a second call does nothing.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        await _stop.CancelAsync();
        await _worker;
        _stop.Dispose();
    }

    private int _disposed;
}
