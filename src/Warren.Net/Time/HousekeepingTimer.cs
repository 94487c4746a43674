namespace Warren.Net.Time;

/// <summary>
/// Periodic housekeeping timers (samplers, sweeps, flushes) whose ticks fall on whole multiples of their period since
/// the Unix epoch, so timers with periods of whole seconds tick together: one wake of the runtime's timer thread and
/// of a thread-pool worker serves all of them, where timers started at arbitrary moments would each wake both. An idle
/// process pays per wake, not per callback (docs/performance.md, "Idle"). .NET's periodic timers subtract a late tick's
/// delay from the next one, so the ticks stay on their marks.
/// </summary>
internal static class HousekeepingTimer
{
    /// <summary>
    /// A timer that first ticks at the next multiple of <paramref name="period"/> (never later than one period from
    /// now), then every period.
    /// </summary>
    public static ITimer CreateAligned(this TimeProvider time, TimerCallback callback, object? state, TimeSpan period)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(period, TimeSpan.Zero);
        var sinceMark = time.GetUtcNow().UtcTicks % period.Ticks;
        return time.CreateTimer(callback, state, TimeSpan.FromTicks(period.Ticks - sinceMark), period);
    }
}
