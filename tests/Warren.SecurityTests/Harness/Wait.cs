using System.Diagnostics;

namespace Warren.SecurityTests.Harness;

/// <summary>Waiting on conditions with deadlines: polls a condition, never sleeps a fixed time to synchronise.</summary>
internal static class Wait
{
    public static readonly TimeSpan Default = TimeSpan.FromSeconds(10);

    public static async Task UntilAsync(Func<bool> condition, TimeSpan timeout, string what)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            if (clock.Elapsed > timeout)
            {
                throw new TimeoutException($"timed out after {timeout.TotalSeconds:0.#} s waiting for {what}");
            }
            await Task.Delay(15).ConfigureAwait(false);
        }
    }

    /// <summary>Awaits <paramref name="task"/>, failing with a clear message past <paramref name="timeout"/>.</summary>
    public static async Task<T> WithTimeout<T>(Task<T> task, TimeSpan timeout, string what)
    {
        try
        {
            return await task.WaitAsync(timeout).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"timed out after {timeout.TotalSeconds:0.#} s waiting for {what}");
        }
    }

    public static async Task WithTimeout(Task task, TimeSpan timeout, string what)
    {
        try
        {
            await task.WaitAsync(timeout).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"timed out after {timeout.TotalSeconds:0.#} s waiting for {what}");
        }
    }
}
