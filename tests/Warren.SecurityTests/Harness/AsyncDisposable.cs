namespace Warren.SecurityTests.Harness;

/// <summary>Cleanup as an <see cref="IAsyncDisposable"/> (stopping an agent, say).</summary>
internal sealed class AsyncDisposable(Func<Task> dispose) : IAsyncDisposable
{
    public async ValueTask DisposeAsync() => await dispose();
}
