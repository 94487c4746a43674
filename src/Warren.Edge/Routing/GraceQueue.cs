using Warren.Configuration;
using Warren.Edge.Agents;

namespace Warren.Edge.Routing;

/// <summary>
/// The grace queue of one service (docs/operations.md, "The grace queue"): while no usable session serves it (the
/// agent restarts, drains, or its link blips), new requests and TCP connections wait here, up to
/// <see cref="GraceConfig.Timeout"/> and at most <see cref="GraceConfig.MaxWaiting"/> at once, for a session to
/// register the service; then they are served as if nothing happened. Only after the grace do they get 503.
/// <para>
/// Waiters hold no lock and no thread: each awaits a signal that <see cref="Wake"/> completes (and replaces) when a
/// session registers the service. The counters are plain numbers; Telemetry/EdgeMetrics reads them at scrape time.
/// </para>
/// </summary>
internal sealed class GraceQueue
{
    private TaskCompletionSource _sessionAdded = NewSignal();
    private bool _closed;
    private int _waiting;
    private long _waited, _served, _timedOut, _rejected;

    /// <summary>Requests and connections waiting now.</summary>
    public int Waiting => Volatile.Read(ref _waiting);

    /// <summary>Requests and connections that found no session and entered the queue (rejected ones included).</summary>
    public long Waited => Interlocked.Read(ref _waited);

    /// <summary>Waiters that got a session within the grace.</summary>
    public long Served => Interlocked.Read(ref _served);

    /// <summary>Waiters that got none within the grace (→ 503, or a reset TCP connection).</summary>
    public long TimedOut => Interlocked.Read(ref _timedOut);

    /// <summary>Refused at once because <see cref="GraceConfig.MaxWaiting"/> were already waiting.</summary>
    public long Rejected => Interlocked.Read(ref _rejected);

    /// <summary>A session registered the service: every waiter looks again.</summary>
    public void Wake() => Interlocked.Exchange(ref _sessionAdded, NewSignal()).TrySetResult();

    /// <summary>
    /// No session will come any more (the edge handed its sockets to a new one, whose agents are there): whoever waits
    /// gets null now, and so does whoever would wait from now on, instead of a grace spent for nothing.
    /// </summary>
    public void Close()
    {
        Volatile.Write(ref _closed, true);
        Wake();
    }

    /// <summary>
    /// Waits for <paramref name="entry"/> to have a usable session; null when the grace passes, the queue is full or
    /// closed, or <paramref name="cancellationToken"/> fires (the client went away).
    /// </summary>
    public async ValueTask<AgentSession?> WaitAsync(ServiceEntry entry, GraceConfig grace, TimeProvider time, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _waited);
        if (Interlocked.Increment(ref _waiting) > grace.MaxWaiting)
        {
            Interlocked.Decrement(ref _waiting);
            Interlocked.Increment(ref _rejected);
            return null;
        }
        try
        {
            var started = time.GetTimestamp();
            while (true)
            {
                // Take the signal before looking, so a session that registers in between is never missed.
                var signal = Volatile.Read(ref _sessionAdded).Task;
                if (entry.PickSession() is { } session)
                {
                    Interlocked.Increment(ref _served);
                    return session;
                }
                if (Volatile.Read(ref _closed))
                {
                    return null;
                }
                var left = grace.Timeout - time.GetElapsedTime(started);
                if (left <= TimeSpan.Zero)
                {
                    Interlocked.Increment(ref _timedOut);
                    return null;
                }
                try
                {
                    await signal.WaitAsync(left, time, cancellationToken).ConfigureAwait(false);
                }
                catch (TimeoutException)
                {
                    // Looked at once more above, then counted as timed out.
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return null;
        }
        finally
        {
            Interlocked.Decrement(ref _waiting);
        }
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}
