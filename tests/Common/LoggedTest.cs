using Xunit.Abstractions;

namespace Warren.Tests.Common;

/// <summary>Base of every end-to-end test class: a per-test <see cref="TestLog"/> written to the test output when the test ends.</summary>
public abstract class LoggedTest : IDisposable
{
    protected LoggedTest(ITestOutputHelper output) => Log = new TestLog(output);

    internal TestLog Log { get; }

    /// <summary>Time one test may take end to end before it counts as hung.</summary>
    protected static readonly TimeSpan TestTimeout = TimeSpan.FromSeconds(90);

    public void Dispose()
    {
        Dispose(disposing: true);
        GC.SuppressFinalize(this);
    }

    protected virtual void Dispose(bool disposing)
    {
        if (disposing)
        {
            Log.Dispose();
        }
    }
}
