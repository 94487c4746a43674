using Warren.Testing.Logging;
using Xunit.Abstractions;

namespace Warren.Testing;

/// <summary>
/// Base of every end-to-end test class: a per-test <see cref="TestLog"/> written to the test output when the test
/// ends, and cleanup (last started, first stopped) of what the test handed to <see cref="Own{T}"/>.
/// </summary>
public abstract class LoggedTest : IAsyncLifetime
{
    private readonly List<IAsyncDisposable> _owned = [];

    protected LoggedTest(ITestOutputHelper output) => Log = new TestLog(output);

    internal TestLog Log { get; }

    /// <summary>Time one test may take end to end before it counts as hung.</summary>
    protected static readonly TimeSpan TestTimeout = TimeSpan.FromSeconds(90);

    /// <summary>Disposes <paramref name="disposable"/> when the test ends.</summary>
    private protected T Own<T>(T disposable)
        where T : IAsyncDisposable
    {
        lock (_owned)
        {
            _owned.Add(disposable);
        }
        return disposable;
    }

    /// <summary>Runs <paramref name="cleanup"/> when the test ends.</summary>
    private protected void OnEnd(Action cleanup) => Own(new Cleanup(cleanup));

    /// <summary>A new, empty directory under the temp folder, deleted when the test ends.</summary>
    private protected string TempDirectory(string prefix = "warren-test-")
    {
        var path = Directory.CreateTempSubdirectory(prefix).FullName;
        OnEnd(() => DeleteDirectory(path));
        return path;
    }

    /// <summary>A reserved loopback port (see <see cref="PortReservation"/>), released when the test ends.</summary>
    private protected int ReservePort()
    {
        var reservation = PortReservation.Reserve();
        OnEnd(reservation.Dispose);
        return reservation.Port;
    }

    public virtual Task InitializeAsync() => Task.CompletedTask;

    public virtual async Task DisposeAsync()
    {
        IAsyncDisposable[] owned;
        lock (_owned)
        {
            owned = [.. _owned];
        }
        for (var i = owned.Length - 1; i >= 0; i--)
        {
            try
            {
                await owned[i].DisposeAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(30)).ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                Log.Note($"cleanup: {ex.GetType().Name}: {ex.Message}");
            }
        }
        Log.Dispose();
    }

    /// <summary>Deletes a directory the test made; one still in use (a process that has not let go) is left for the OS.</summary>
    internal static void DeleteDirectory(string path)
    {
        try
        {
            Directory.Delete(path, recursive: true);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
        }
    }

    private sealed class Cleanup(Action action) : IAsyncDisposable
    {
        public ValueTask DisposeAsync()
        {
            action();
            return ValueTask.CompletedTask;
        }
    }
}
