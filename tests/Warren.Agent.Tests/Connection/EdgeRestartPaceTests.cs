using Microsoft.Extensions.Time.Testing;
using Warren.Agent.Connection;

namespace Warren.Agent.Tests.Connection;

/// <summary>After the edge's GOAWAY the agent tries again every 0.25–0.5 s for a while, not on the growing backoff.</summary>
public sealed class EdgeRestartPaceTests
{
    [Fact]
    public void Without_a_goaway_there_is_no_short_pace()
    {
        var pace = new EdgeRestartPace(new FakeTimeProvider());

        Assert.Null(pace.Next());
    }

    [Fact]
    public void Within_the_window_after_a_goaway_every_wait_is_at_most_half_a_second_and_then_the_backoff_takes_over()
    {
        var time = new FakeTimeProvider();
        var pace = new EdgeRestartPace(time, new FixedRandom(1.0));
        pace.EdgeWentAway();

        for (var i = 0; i < 20; i++)
        {
            Assert.Equal(EdgeRestartPace.Pace, pace.Next());
            time.Advance(EdgeRestartPace.Pace);
        }
        time.Advance(EdgeRestartPace.Window);

        Assert.Null(pace.Next());
    }

    [Fact]
    public void The_wait_is_jittered_between_half_the_pace_and_the_pace()
    {
        Assert.Equal(EdgeRestartPace.Pace / 2, Went(new FixedRandom(0.0)).Next());
        Assert.Equal(EdgeRestartPace.Pace * 0.75, Went(new FixedRandom(0.5)).Next());

        static EdgeRestartPace Went(Random random)
        {
            var pace = new EdgeRestartPace(new FakeTimeProvider(), random);
            pace.EdgeWentAway();
            return pace;
        }
    }

    [Fact]
    public void An_edge_that_answers_ends_the_short_pace()
    {
        // A session up again, or a refusal (token, rejected agent): an edge that answers is not retried twice a second.
        var pace = new EdgeRestartPace(new FakeTimeProvider());
        pace.EdgeWentAway();

        pace.EdgeAnswered();

        Assert.Null(pace.Next());
    }
}
