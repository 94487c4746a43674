using System.Runtime.InteropServices;
using Warren.Protocol.Buffers;
using Warren.Net.Time;

namespace Warren.Cli.Hosting;

/// <summary>
/// Gives the memory a burst of load left behind back to the system once the process has gone quiet
/// (docs/performance.md, "Memory"). The GC collects only when something allocates, and an idle edge or agent
/// allocates almost nothing: after a load, the dead connections' objects sat promoted in gen1/gen2 and the heap stayed
/// committed at its peak (measured: 46 MB committed for 12.6 MB live, 60 s after a c1000 burst), and the block pool's
/// and ArrayPool's idle buffers waited for a gen2 collection that never came. So every <see cref="Interval"/> this
/// looks at how much the process allocated: once intervals with at least <see cref="IdleBytes"/> (load) have added up
/// to <see cref="BurstBytes"/> and an interval then allocates less than <see cref="IdleBytes"/> (quiet), it releases
/// once: the block pool drops its idle blocks and a blocking, compacting, decommitting (aggressive) gen2 collection
/// runs. Then it waits for the next burst. Timers, keepalives and the console's sampler allocate far below
/// <see cref="IdleBytes"/> (about 50 KB a second, 0.5 MB an interval), so an idle process never collects on its own.
/// </summary>
internal sealed partial class IdleMemory : IDisposable
{
    public static readonly TimeSpan Interval = TimeSpan.FromSeconds(10);

    /// <summary>An interval that allocated less than this is quiet (about 300 proxied requests, or 64 new 16 KiB stream blocks).</summary>
    public const long IdleBytes = 1024 * 1024;

    /// <summary>Allocation in busy intervals since the last release that makes going quiet worth a full collection.</summary>
    public const long BurstBytes = 4 * 1024 * 1024;

    private readonly Func<long> _allocated;
    private readonly Action _release;
    private readonly ITimer? _timer;
    private long _last;
    private long _burst;
    private int _releases;

    /// <param name="timeProvider">Drives the check every <see cref="Interval"/>; null leaves it to <see cref="Tick"/> (tests).</param>
    /// <param name="allocated">The process's total allocated bytes so far.</param>
    /// <param name="release">What a release does.</param>
    internal IdleMemory(TimeProvider? timeProvider, Func<long> allocated, Action release)
    {
        (_allocated, _release) = (allocated, release);
        _last = allocated();
        _timer = timeProvider?.CreateAligned(static s => ((IdleMemory)s!).Tick(), this, Interval);
    }

    /// <summary>Releases done so far.</summary>
    public int Releases => Volatile.Read(ref _releases);

    /// <summary>Starts the check for this process (the long-running commands: edge, agent, connect).</summary>
    public static IdleMemory Start() => new(TimeProvider.System, static () => GC.GetTotalAllocatedBytes(precise: false), Release);

    /// <summary>One check; the timer's callback (timer callbacks do not overlap here: each runs well within the interval).</summary>
    internal void Tick()
    {
        var now = _allocated();
        var allocated = now - _last;
        _last = now;
        if (allocated >= IdleBytes)
        {
            _burst += allocated;
            return;
        }
        if (_burst < BurstBytes)
        {
            return;
        }
        _burst = 0;
        _release();
        Interlocked.Increment(ref _releases);
    }

    private static void Release()
    {
        BlockPool.Shared.ReleaseIdle();
        GC.Collect(2, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        // ArrayPool.Shared lets go of its long-unused arrays in a callback after a gen2 collection (on the finalizer
        // thread): a second collection frees what it let go.
        GC.WaitForPendingFinalizers();
        GC.Collect(2, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        // Native memory freed during the burst (OpenSSL's and the runtime's mallocs, across glibc's per-thread arenas)
        // stays mapped until trimmed: 10-15 MB after a c1000 burst.
        if (OperatingSystem.IsLinux())
        {
            try
            {
                _ = MallocTrim(0);
            }
            catch (Exception ex) when (ex is EntryPointNotFoundException or DllNotFoundException)
            {
                // not glibc (musl has no malloc_trim): nothing to trim this way
            }
        }
    }

    [LibraryImport("libc", EntryPoint = "malloc_trim")]
    private static partial int MallocTrim(nuint pad);

    public void Dispose() => _timer?.Dispose();
}
