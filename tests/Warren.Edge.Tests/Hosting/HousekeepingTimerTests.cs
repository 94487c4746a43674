using Microsoft.Extensions.Time.Testing;
using Warren.Net.Time;

namespace Warren.Edge.Tests.Hosting;

/// <summary>
/// Housekeeping timers tick on whole multiples of their period, so timers started at different moments tick at the
/// same instants and an idle edge wakes once for all of them (docs/performance.md, "Idle").
/// </summary>
public sealed class HousekeepingTimerTests
{
    private static readonly DateTimeOffset Start = new(2026, 12, 5, 12, 0, 0, 300, TimeSpan.Zero);

    [Fact]
    public void The_first_tick_is_at_the_next_multiple_of_the_period_then_one_per_period()
    {
        var time = new FakeTimeProvider(Start);
        var ticks = new List<DateTimeOffset>();
        using var timer = time.CreateAligned(_ => ticks.Add(time.GetUtcNow()), null, TimeSpan.FromSeconds(1));

        time.Advance(TimeSpan.FromMilliseconds(699));
        Assert.Empty(ticks);
        time.Advance(TimeSpan.FromMilliseconds(1));
        time.Advance(TimeSpan.FromSeconds(1));

        Assert.Equal([Start.AddMilliseconds(700), Start.AddMilliseconds(1700)], ticks);
    }

    [Fact]
    public void Timers_started_at_different_moments_tick_at_the_same_instants()
    {
        var time = new FakeTimeProvider(Start);
        var everySecond = new List<DateTimeOffset>();
        var everyTwo = new List<DateTimeOffset>();
        var everyTen = new List<DateTimeOffset>();
        using var one = time.CreateAligned(_ => everySecond.Add(time.GetUtcNow()), null, TimeSpan.FromSeconds(1));
        Step(time, 450);
        using var two = time.CreateAligned(_ => everyTwo.Add(time.GetUtcNow()), null, TimeSpan.FromSeconds(2));
        Step(time, 1234);
        using var ten = time.CreateAligned(_ => everyTen.Add(time.GetUtcNow()), null, TimeSpan.FromSeconds(10));

        Step(time, 20_000);

        Assert.NotEmpty(everyTen);
        Assert.All(everySecond, t => Assert.Equal(0, t.Millisecond));
        Assert.Subset(everySecond.ToHashSet(), everyTwo.ToHashSet());
        Assert.Subset(everyTwo.ToHashSet(), everyTen.ToHashSet());
        Assert.All(everyTen, t => Assert.Equal(0, t.Second % 10));
    }

    /// <summary>A callback sees the time an Advance ends at, so 1 ms steps record each tick at its own instant.</summary>
    private static void Step(FakeTimeProvider time, int milliseconds)
    {
        for (var i = 0; i < milliseconds; i++)
        {
            time.Advance(TimeSpan.FromMilliseconds(1));
        }
    }

    [Fact]
    public void A_period_of_zero_or_less_is_refused()
    {
        var time = new FakeTimeProvider(Start);
        Assert.Throws<ArgumentOutOfRangeException>(() => time.CreateAligned(_ => { }, null, TimeSpan.Zero));
    }
}
