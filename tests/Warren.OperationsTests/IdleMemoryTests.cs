using Warren.Cli.Hosting;

namespace Warren.OperationsTests;

/// <summary>
/// When the `warren` process hands memory back after a burst (Hosting/IdleMemory.cs, docs/performance.md "Memory"):
/// once per burst, when it goes quiet, and never while it idles or under a slow steady trickle. Driven by a
/// counter in place of the process's allocated bytes, tick by tick.
/// </summary>
public sealed class IdleMemoryTests
{
    private const long MB = 1024 * 1024;

    [Fact]
    public void A_burst_is_released_once_when_the_process_goes_quiet_and_the_next_burst_once_more()
    {
        var allocated = 0L;
        var released = 0;
        using var idle = new IdleMemory(timeProvider: null, () => allocated, () => released++);

        allocated += 20 * MB; // load
        idle.Tick();
        allocated += 6 * MB;
        idle.Tick();
        Assert.Equal(0, released); // still busy

        allocated += 100 * 1024; // quiet: timers and keepalives only
        idle.Tick();
        Assert.Equal(1, released);
        for (var i = 0; i < 20; i++)
        {
            allocated += 100 * 1024;
            idle.Tick();
        }
        Assert.Equal(1, released); // idle since: nothing more to release

        for (var i = 0; i < 3; i++)
        {
            allocated += 3 * MB; // a smaller burst, over three intervals
            idle.Tick();
        }
        allocated += 10 * 1024;
        idle.Tick();
        Assert.Equal(2, released);
        Assert.Equal(2, idle.Releases);
    }

    [Fact]
    public void Neither_idling_nor_a_small_burst_nor_a_steady_trickle_releases()
    {
        var allocated = 0L;
        var released = 0;
        using var idle = new IdleMemory(timeProvider: null, () => allocated, () => released++);

        for (var i = 0; i < 1000; i++)
        {
            allocated += IdleMemory.IdleBytes - 1; // just under "busy", forever
            idle.Tick();
        }
        allocated += IdleMemory.BurstBytes - 1; // one burst too small to be worth a full collection
        idle.Tick();
        idle.Tick();
        Assert.Equal(0, released);
    }
}
