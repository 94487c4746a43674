using System.Collections.Concurrent;

namespace Warren.Edge.Dashboard;

/// <summary>
/// Where the console's SQLite work runs (docs/console.md, "How the console reads its databases"): searches of the
/// request log, the traffic table, the token store's list, create and revoke from the console's pages, and the
/// accounting's flush. Microsoft.Data.Sqlite has no truly asynchronous I/O (its async methods run synchronously), so
/// that work would otherwise hold a thread-pool thread for as long as a query takes, and the thread pool is what
/// the hot path's overflow runs on (docs/architecture.md). Here it holds one thread of its own
/// (<c>warren-console-db</c>), one piece at a time, behind a queue of <see cref="MaxQueued"/>: beyond that the
/// console answers 503 at once (<see cref="ConsoleBusyException"/>) instead of piling up waiting requests.
/// </summary>
internal sealed class ConsoleDatabase : IDisposable
{
    /// <summary>Pieces of work waiting at most: a few operators' pages, far from what a person clicks.</summary>
    public const int MaxQueued = 32;

    private readonly BlockingCollection<Action> _queue = new(MaxQueued);
    private readonly Thread _thread;

    public ConsoleDatabase()
    {
        _thread = new Thread(Run) { IsBackground = true, Name = "warren-console-db" };
        _thread.Start();
    }

    /// <summary>Runs <paramref name="work"/> on the console's database thread; faults with <see cref="ConsoleBusyException"/> when the queue is full.</summary>
    public Task<T> RunAsync<T>(Func<T> work)
    {
        var done = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        void Work()
        {
            try
            {
                done.SetResult(work());
            }
            catch (Exception ex)
            {
                done.SetException(ex);
            }
        }
        return TryPost(Work) ? done.Task : Task.FromException<T>(new ConsoleBusyException());
    }

    /// <summary>Queues <paramref name="work"/> without waiting; false when the queue is full or closed (the caller tries again later).</summary>
    public bool TryPost(Action work)
    {
        try
        {
            return _queue.TryAdd(work);
        }
        catch (InvalidOperationException)
        {
            return false; // stopping: CompleteAdding was called
        }
    }

    private void Run()
    {
        foreach (var work in _queue.GetConsumingEnumerable())
        {
            work();
        }
    }

    /// <summary>Runs what is queued, then ends the thread.</summary>
    public void Dispose()
    {
        _queue.CompleteAdding();
        _thread.Join();
        _queue.Dispose();
    }
}
