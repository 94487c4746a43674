using Xunit.Abstractions;

namespace Warren.SecurityTests.Harness;

/// <summary>Base of every test: a captured log (dumped to the test output at the end) and cleanup of what it started.</summary>
public abstract class SecurityTest(ITestOutputHelper output) : IAsyncLifetime
{
    private readonly List<IAsyncDisposable> _owned = [];

    private protected TestLog Log { get; } = new(output);

    /// <summary>A fresh edge with the good agent serving; stopped when the test ends.</summary>
    private protected async Task<TestEdge> StartEdgeAsync(TestEdgeOptions? options = null)
    {
        var edge = await TestEdge.StartAsync(Log, options);
        _owned.Add(edge);
        return edge;
    }

    /// <summary>A new, empty directory under the temp folder, deleted when the test ends.</summary>
    private protected string TempDirectory()
    {
        var path = TestEdge.NewDataDirectory();
        Directory.CreateDirectory(path);
        _owned.Add(new AsyncDisposable(() =>
        {
            Directory.Delete(path, recursive: true);
            return Task.CompletedTask;
        }));
        return path;
    }

    private protected T Own<T>(T disposable) where T : IAsyncDisposable
    {
        _owned.Add(disposable);
        return disposable;
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        for (var i = _owned.Count - 1; i >= 0; i--)
        {
            try
            {
                await _owned[i].DisposeAsync();
            }
            catch (Exception ex)
            {
                Log.Note($"cleanup: {ex.GetType().Name}: {ex.Message}");
            }
        }
        Log.Flush();
        Log.Dispose();
    }
}
