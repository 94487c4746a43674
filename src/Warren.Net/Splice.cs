using System.Buffers;

namespace Warren.Net;

/// <summary>
/// Copies bytes both ways between two streams (a socket and a tunnel stream), with half-close: when one side
/// ends, the other side's send direction is closed and the copy the other way goes on until it ends too.
/// </summary>
internal static class Splice
{
    /// <summary>
    /// One read's worth: a 64 KiB response is read, framed and sent over the link at once rather than in four rounds
    /// of read, frame, TLS record and send (docs/performance.md, "Bodies"). Held only between a read and its write.
    /// </summary>
    internal const int CopyBufferSize = 64 * 1024;

    /// <summary>
    /// Runs both directions; completes when both have ended or either failed (then both are torn down by the caller).
    /// <paramref name="halfCloseA"/>/<paramref name="halfCloseB"/> close the send side of a and b respectively.
    /// <paramref name="idleTimeout"/> ends the splice when no byte moved either way for that long, calling
    /// <paramref name="idled"/> first (so the caller can count and report it).
    /// </summary>
    public static async Task<SpliceResult> RunAsync(
        Stream a, Action halfCloseB, Stream b, Action halfCloseA, TimeSpan idleTimeout, TimeProvider time, CancellationToken cancellationToken, Action? idled = null)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var activity = new ActivityClock(time);
        using var idle = time.CreateTimer(static s =>
        {
            var (clock, source, limit, idled) = ((ActivityClock, CancellationTokenSource, TimeSpan, Action?))s!;
            if (clock.IdleFor() > limit && !source.IsCancellationRequested)
            {
                idled?.Invoke();
                try { source.Cancel(); } catch (ObjectDisposedException) { }
            }
        }, (activity, cts, idleTimeout, idled), IdleCheckPeriod(idleTimeout), IdleCheckPeriod(idleTimeout));

        var aToB = CopyAsync(a, b, halfCloseB, activity, cts);
        var bToA = CopyAsync(b, a, halfCloseA, activity, cts);
        await Task.WhenAll(aToB, bToA).ConfigureAwait(false);
        var (failed, error) = aToB.Result.Failed is not null ? (aToB.Result.Failed, aToB.Result.Error) : (bToA.Result.Failed, bToA.Result.Error);
        return new SpliceResult(aToB.Result.Bytes, bToA.Result.Bytes,
            failed is null ? SpliceSide.None : ReferenceEquals(failed, a) ? SpliceSide.A : SpliceSide.B, error);
    }

    /// <summary>
    /// A quarter of the idle timeout, within 1..30 s: an idle connection is cut between 1x and 1.25x its timeout,
    /// and thousands of idle WebSockets cost a few timer callbacks a second, not thousands.
    /// </summary>
    internal static TimeSpan IdleCheckPeriod(TimeSpan idleTimeout) =>
        TimeSpan.FromTicks(Math.Clamp(idleTimeout.Ticks / 4, TimeSpan.TicksPerSecond, 30 * TimeSpan.TicksPerSecond));

    /// <summary>Copies until <paramref name="from"/> ends; Failed is the stream whose read or write threw first (Error what it threw), or null.</summary>
    private static async Task<(long Bytes, Stream? Failed, Exception? Error)> CopyAsync(Stream from, Stream to, Action halfClose, ActivityClock activity, CancellationTokenSource cts)
    {
        var total = 0L;
        var writing = false;
        try
        {
            while (true)
            {
                // A zero-byte read waits for data without holding a buffer, so an idle WebSocket or TCP
                // connection costs no buffer memory (YARP's StreamCopier does the same). Skipping it after a read that
                // filled the buffer once seemed to break ClientAbortTests (the backend never saw a vanished client's
                // abort), but that test had a race of its own, fixed since (its midBody case): the skip is untried
                // since, not known to be wrong.
                await from.ReadAsync(Memory<byte>.Empty, cts.Token).ConfigureAwait(false);
                var buffer = ArrayPool<byte>.Shared.Rent(CopyBufferSize);
                try
                {
                    var n = await from.ReadAsync(buffer, cts.Token).ConfigureAwait(false);
                    if (n == 0)
                    {
                        halfClose();
                        return (total, null, null);
                    }
                    writing = true;
                    await to.WriteAsync(buffer.AsMemory(0, n), cts.Token).ConfigureAwait(false);
                    writing = false;
                    total += n;
                }
                finally
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                }
                activity.Touch();
            }
        }
        catch (Exception ex) when (!cts.IsCancellationRequested)
        {
            // One direction failed: stop the other one too.
            try { await cts.CancelAsync().ConfigureAwait(false); } catch (ObjectDisposedException) { }
            return (total, writing ? to : from, ex);
        }
        catch (Exception)
        {
            return (total, null, null);
        }
    }

    private sealed class ActivityClock(TimeProvider time)
    {
        private long _last = time.GetTimestamp();

        public void Touch() => Volatile.Write(ref _last, time.GetTimestamp());

        public TimeSpan IdleFor() => time.GetElapsedTime(Volatile.Read(ref _last));
    }
}
