namespace Warren.Agent.Connection;

/// <summary>
/// Exponential backoff with full jitter: the n-th wait is uniform in [0, min(cap, base * 2^n)], so a fleet of
/// agents that lost the same edge does not come back in lockstep. With <paramref name="equalJitter"/> the wait is
/// uniform in [ceiling / 2, ceiling] instead: never short, for waits that must be (a refused token).
/// </summary>
internal sealed class Backoff(TimeSpan initial, TimeSpan cap, Random? random = null, bool equalJitter = false)
{
    private readonly Random _random = random ?? Random.Shared;
    private int _attempt;

    public TimeSpan Next()
    {
        var ceiling = Math.Min(cap.TotalMilliseconds, initial.TotalMilliseconds * Math.Pow(2, Math.Min(_attempt, 30)));
        _attempt++;
        return TimeSpan.FromMilliseconds(equalJitter ? ceiling / 2 + _random.NextDouble() * ceiling / 2 : _random.NextDouble() * ceiling);
    }

    public void Reset() => _attempt = 0;
}
