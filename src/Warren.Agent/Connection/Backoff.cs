namespace Warren.Agent.Connection;

/// <summary>
/// Exponential backoff with full jitter: the n-th wait is uniform in [0, min(cap, base * 2^n)], so a fleet of
/// agents that lost the same edge does not come back in lockstep.
/// </summary>
internal sealed class Backoff(TimeSpan initial, TimeSpan cap, Random? random = null)
{
    private readonly Random _random = random ?? Random.Shared;
    private int _attempt;

    public TimeSpan Next()
    {
        var ceiling = Math.Min(cap.TotalMilliseconds, initial.TotalMilliseconds * Math.Pow(2, Math.Min(_attempt, 30)));
        _attempt++;
        return TimeSpan.FromMilliseconds(_random.NextDouble() * ceiling);
    }

    public void Reset() => _attempt = 0;
}
