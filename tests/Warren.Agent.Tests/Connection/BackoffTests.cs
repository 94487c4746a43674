using Warren.Agent.Connection;

namespace Warren.Agent.Tests.Connection;

/// <summary>Reconnect back-off: full jitter under a ceiling that doubles from the initial wait up to the cap.</summary>
public sealed class BackoffTests
{
    [Fact]
    public void Ceiling_doubles_from_the_initial_wait_up_to_the_cap()
    {
        var backoff = new Backoff(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(60), new FixedRandom(1.0));

        var waits = Enumerable.Range(0, 9).Select(_ => backoff.Next().TotalSeconds).ToArray();

        Assert.Equal([1, 2, 4, 8, 16, 32, 60, 60, 60], waits);
    }

    [Fact]
    public void Each_wait_is_the_jitter_fraction_of_the_ceiling()
    {
        var backoff = new Backoff(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(60), new FixedRandom(0.25));

        Assert.Equal([0.25, 0.5, 1.0], Enumerable.Range(0, 3).Select(_ => backoff.Next().TotalSeconds));
    }

    [Fact]
    public void Reset_starts_again_from_the_initial_wait()
    {
        var backoff = new Backoff(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(60), new FixedRandom(1.0));
        for (var i = 0; i < 5; i++)
        {
            backoff.Next();
        }

        backoff.Reset();

        Assert.Equal(1, backoff.Next().TotalSeconds);
    }

    [Fact]
    public void Ceiling_stays_at_the_cap_after_many_attempts()
    {
        var backoff = new Backoff(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(60), new FixedRandom(1.0));
        for (var i = 0; i < 1000; i++)
        {
            backoff.Next();
        }

        Assert.Equal(60, backoff.Next().TotalSeconds);
    }
}
