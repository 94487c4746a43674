namespace Warren.SecurityTests.Harness;

internal static class TestLogExtensions
{
    /// <summary>Waits until a line containing every one of <paramref name="parts"/> was logged; returns it.</summary>
    public static async Task<string> WaitForAsync(this TestLog log, TimeSpan timeout, params string[] parts)
    {
        await Wait.UntilAsync(() => log.Matching(parts).Count > 0, $"a log line with '{string.Join("', '", parts)}'", timeout).ConfigureAwait(false);
        return log.Matching(parts)[0];
    }
}
