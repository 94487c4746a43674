using System.Diagnostics;

namespace Warren.Testing;

/// <summary>
/// Waits on conditions with deadlines, never a fixed sleep: poll briefly until true, or fail naming what was
/// awaited. The deadlines are generous (tests run in parallel on a loaded 2-core machine) and are never asserted
/// as durations: they only turn a hang into a failure.
/// </summary>
internal static class Wait
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(30);

    public static Task UntilAsync(Func<bool> condition, string what, TimeSpan? timeout = null) =>
        UntilAsync(() => Task.FromResult(condition()), what, timeout);

    public static async Task UntilAsync(Func<Task<bool>> condition, string what, TimeSpan? timeout = null)
    {
        var limit = timeout ?? DefaultTimeout;
        var clock = Stopwatch.StartNew();
        while (!await condition().ConfigureAwait(false))
        {
            if (clock.Elapsed > limit)
            {
                throw new TimeoutException($"timed out after {limit.TotalSeconds:0.#} s waiting until {what}");
            }
            await Task.Delay(20).ConfigureAwait(false);
        }
    }

    /// <summary>Awaits <paramref name="task"/> or fails naming <paramref name="what"/> when it takes longer than <paramref name="timeout"/>.</summary>
    public static async Task WithTimeoutAsync(Task task, TimeSpan timeout, string what)
    {
        try
        {
            await task.WaitAsync(timeout).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"{what} did not finish within {timeout.TotalSeconds:0.#} s");
        }
    }

    /// <summary>Awaits <paramref name="task"/> for its result or fails naming <paramref name="what"/> past <paramref name="timeout"/>.</summary>
    public static async Task<T> WithTimeoutAsync<T>(Task<T> task, TimeSpan timeout, string what)
    {
        try
        {
            return await task.WaitAsync(timeout).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"{what} did not finish within {timeout.TotalSeconds:0.#} s");
        }
    }
}
