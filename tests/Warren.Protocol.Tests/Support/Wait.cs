namespace Warren.Protocol.Tests.Support;

/// <summary>Waits on conditions with a deadline; tests never sleep for a fixed time to synchronise.</summary>
internal static class Wait
{
    /// <summary>Generous ceiling for anything a test awaits, so a bug fails the test instead of hanging the run.</summary>
    public static readonly TimeSpan Deadline = TimeSpan.FromSeconds(20);

    public static async Task UntilAsync(Func<bool> condition, string what, TimeSpan? deadline = null)
    {
        var end = DateTime.UtcNow + (deadline ?? Deadline);
        while (!condition())
        {
            if (DateTime.UtcNow > end)
            {
                Assert.Fail($"timed out waiting until {what}");
            }
            await Task.Delay(5);
        }
    }

    /// <summary>Awaits <paramref name="task"/>, failing the test if it does not finish before the deadline.</summary>
    public static Task<T> Within<T>(this Task<T> task, TimeSpan? deadline = null) => task.WaitAsync(deadline ?? Deadline);

    public static Task Within(this Task task, TimeSpan? deadline = null) => task.WaitAsync(deadline ?? Deadline);

    public static Task<T> Within<T>(this ValueTask<T> task, TimeSpan? deadline = null) => task.AsTask().WaitAsync(deadline ?? Deadline);
}
