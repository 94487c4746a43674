namespace Warren.Edge.Hosting;

/// <summary>
/// What an edge's start has built so far, torn down newest first when the start fails part way (a port already taken,
/// Ctrl+C while starting). A failed start then leaves no listener accepting and no store writing to the data
/// directory, which the caller may delete at once (`warren demo` does).
/// </summary>
internal sealed class StartupUndo
{
    private readonly Stack<Func<ValueTask>> _steps = new();

    /// <summary>Registers <paramref name="part"/> for disposal if the start fails; returns it.</summary>
    public T Own<T>(T part)
        where T : class, IAsyncDisposable
    {
        _steps.Push(part.DisposeAsync);
        return part;
    }

    /// <inheritdoc cref="Own{T}(T)"/>
    public T OwnSync<T>(T part)
        where T : class, IDisposable
    {
        _steps.Push(() =>
        {
            part.Dispose();
            return ValueTask.CompletedTask;
        });
        return part;
    }

    /// <summary>Disposes every part registered, newest first. A part that fails to stop does not keep the others up.</summary>
    public async Task UndoAsync()
    {
        while (_steps.TryPop(out var step))
        {
            try
            {
                await step().ConfigureAwait(false);
            }
            catch (Exception)
            {
                // The start's own exception is the one the caller needs; a part left half built may fail to stop.
            }
        }
    }
}
