using System.Collections.Concurrent;
using System.Diagnostics;
using System.IO.Pipelines;
using System.Runtime.CompilerServices;
using System.Text;
using System.Threading.Channels;
using Warren.Protocol.Framing;
using Warren.Protocol.Streams;

namespace Warren.Protocol.Session;

/// <summary>A small frame that jumps ahead of DATA. <see cref="IsReply"/> ones were provoked by the peer and are bounded.</summary>
internal readonly record struct ControlFrame(FrameType Type, uint StreamId, ulong Value, bool Ack = false, bool IsReply = false, bool Final = false);

/// <summary>
/// The session's single writer: everything that goes out is framed here, into the transport's pipe, by exactly one
/// thread at a time. Control frames (WINDOW_UPDATE, PING, RST, GOAWAY) go first; then ready streams, one frame each,
/// round-robin, up to <see cref="SessionOptions.MaxWriteBatch"/> bytes per flush.
/// <para>
/// Who writes is decided by one gate (as StackExchange.Redis's PhysicalBridge takes its single-writer lock): a producer
/// that queued data takes it with <see cref="TryWriteInline"/> and writes on its own thread, sparing the two thread
/// hops to a writer loop and back; if the gate is taken, whoever holds it writes the new frames too, since every
/// holder looks at the queues again after letting go. <see cref="RunAsync"/> is the writer loop for the rest: frames
/// queued by threads that do not write (the reader loop's replies, timers), flushes a producer could not finish
/// synchronously, which it hands over with the gate, and flushes a producer left to it because the link is busy
/// (<see cref="SessionOptions.CoalesceWithin"/>).
/// </para>
/// </summary>
internal sealed class SessionWriter
{
    /// <summary>Batches a producer writes inline before leaving the rest to the loop: its own continuation waits meanwhile.</summary>
    private const int MaxInlineBatches = 4;

    private readonly MuxSession _session;
    private readonly PipeWriter _output;
    private readonly ConcurrentQueue<ControlFrame> _control = new();
    private readonly ConcurrentQueue<MuxStream> _ready = new();
    // Wakes the loop; capacity 1 and DropWrite, so signalling never blocks and never piles up.
    private readonly Channel<bool> _signal = Channel.CreateBounded<bool>(new BoundedChannelOptions(1)
    {
        SingleReader = true,
        FullMode = BoundedChannelFullMode.DropWrite,
    });
    private int _gate;                         // 1 while one thread may write frames and flush
    private int _loopWaiting;                  // 1 while the loop waits for the gate's holder to let go (TryTakeGateOrWait)
    private volatile Task<FlushResult>? _handedOffFlush; // a flush a producer could not finish; the gate came with it
    private int _queuedReplies;
    private long _flushStarted;                // timestamp while a flush is pending, else 0 (the keepalive tick watches it)
    private volatile bool _exit;               // stop now
    private volatile bool _exitWhenIdle;       // stop once both queues are empty
    private volatile bool _finalWritten;
    private byte[] _goAwayReason = [];
    private bool _unflushed;                   // framed into the output, not flushed yet (gate holder only)
    private long _lastInlineFlush;             // Stopwatch timestamp of the last flush a producer made inline (gate holder only)
    private readonly long _coalesceWithin;     // SessionOptions.CoalesceWithin in Stopwatch ticks

    public SessionWriter(MuxSession session, PipeWriter output)
    {
        _session = session;
        _output = output;
        _coalesceWithin = (long)(session.Options.CoalesceWithin.TotalSeconds * Stopwatch.Frequency);
    }

    /// <summary>Frames waiting (control frames plus ready streams).</summary>
    public int QueueDepth => _control.Count + _ready.Count;

    /// <summary>When the pending flush started (a timestamp), or 0 when none is pending.</summary>
    public long FlushStarted => Volatile.Read(ref _flushStarted);

    /// <summary>The stream has frames to write. With <paramref name="wake"/> false the caller writes inline next.</summary>
    public void Schedule(MuxStream stream, bool wake)
    {
        _ready.Enqueue(stream);
        if (wake)
        {
            Signal();
        }
    }

    /// <summary>Queues a control frame. With <paramref name="wake"/> false the caller writes it inline soon (<see cref="WriteQueuedInline"/>).</summary>
    public void EnqueueControl(in ControlFrame frame, bool wake = true)
    {
        _control.Enqueue(frame);
        if (wake)
        {
            Signal();
        }
    }

    /// <summary>Writes whatever is queued on this thread, if anything is and nobody else is writing (the reader loop, after a batch).</summary>
    public void WriteQueuedInline()
    {
        if (!_control.IsEmpty || !_ready.IsEmpty)
        {
            TryWriteInline();
        }
    }

    /// <summary>Queues a frame the peer provoked. A peer that makes us queue too many (ping or reset floods) is cut off.</summary>
    public void EnqueueReply(ControlFrame frame)
    {
        if (Interlocked.Increment(ref _queuedReplies) > _session.Options.MaxQueuedControlReplies)
        {
            throw new ProtocolException(ErrorCode.EnhanceYourCalm, $"over {_session.Options.MaxQueuedControlReplies} control replies queued: the peer sends faster than it reads");
        }
        EnqueueControl(frame with { IsReply = true });
    }

    public void EnqueueGoAway(uint lastPeerId, ErrorCode code, string reason, bool final, bool wake = true)
    {
        var bytes = Encoding.UTF8.GetBytes(reason);
        Volatile.Write(ref _goAwayReason, bytes.Length > FrameLimits.MaxGoAwayReason ? bytes[..FrameLimits.MaxGoAwayReason] : bytes);
        EnqueueControl(new ControlFrame(FrameType.GoAway, 0, ((ulong)lastPeerId << 32) | (uint)code, Final: final), wake);
    }

    /// <summary>The session closed: stop at once (the transport is being torn down).</summary>
    public void ExitNow()
    {
        _exit = true;
        Signal();
    }

    /// <summary>The session closed: write what is queued (a final GOAWAY, replies), then stop.</summary>
    public void ExitWhenIdle()
    {
        _exitWhenIdle = true;
        Signal();
    }

    public void Signal() => _signal.Writer.TryWrite(true);

    /// <summary>
    /// The fast path: a producer that just queued data writes it now on its own thread if nobody else is writing. If
    /// the flush would block, the loop takes the flush (and the gate) over.
    /// </summary>
    public void TryWriteInline()
    {
        if (_exit || Interlocked.CompareExchange(ref _gate, 1, 0) != 0)
        {
            return; // the holder looks at the queues after letting go
        }
        var handedOff = false;
        try
        {
            for (var batch = 0; batch < MaxInlineBatches && !_exit && !_finalWritten; batch++)
            {
                if (WriteBatch(out _) == 0)
                {
                    break;
                }
                // Under load the producers of many streams write inline one after another, each its own send (and TLS
                // record) of a few hundred bytes. Close behind the last inline flush, the link is busy: leave this one
                // to the loop, which sends it with whatever else is framed by the time it runs (a thread hop, paid
                // once per send rather than per frame). Alone, a producer is never this close and flushes at once.
                var now = Stopwatch.GetTimestamp();
                if (now - _lastInlineFlush < _coalesceWithin)
                {
                    _unflushed = true;
                    break;
                }
                _lastInlineFlush = now;
                _unflushed = false;
                Volatile.Write(ref _flushStarted, _session.TimeProvider.GetTimestamp());
                var flush = _output.FlushAsync();
                if (!flush.IsCompletedSuccessfully)
                {
                    _handedOffFlush = flush.AsTask();
                    handedOff = true;
                    return;
                }
                Volatile.Write(ref _flushStarted, 0);
                if (flush.Result is { IsCanceled: true } or { IsCompleted: true })
                {
                    _exit = true;
                }
            }
        }
        catch (Exception ex)
        {
            _session.OnWriteFailed(ex);
        }
        finally
        {
            if (!handedOff)
            {
                ReleaseGate();
            }
            var loopWaits = TakeLoopWaiting();
            if (loopWaits || handedOff || _exit || _finalWritten || _unflushed || !_control.IsEmpty || !_ready.IsEmpty)
            {
                Signal();
            }
        }
    }

    /// <summary>
    /// The writer loop: whenever frames are queued and no producer is writing inline, it writes everything queued into
    /// the transport's pipe and flushes once, so many small frames leave in one write. It also finishes flushes that
    /// producers handed over. Ends when the session closes; returns whether it ended cleanly (the peer stopped reading).
    /// </summary>
    public async Task RunAsync()
    {
        await Task.Yield();
        var owned = false;
        try
        {
            while (!_exit)
            {
                if (_handedOffFlush is { } pending)
                {
                    // The gate came with the flush.
                    owned = true;
                    var handed = await pending.ConfigureAwait(false);
                    _handedOffFlush = null;
                    Volatile.Write(ref _flushStarted, 0);
                    if (handed.IsCanceled || handed.IsCompleted)
                    {
                        break;
                    }
                }
                else if (!TryTakeGateOrWait())
                {
                    await WaitForSignalAsync().ConfigureAwait(false);
                    continue;
                }
                owned = true;
                if (_finalWritten)
                {
                    break;
                }
                var written = WriteBatch(out var finalWritten);
                if (written > 0 || _unflushed)
                {
                    _unflushed = false;
                    Volatile.Write(ref _flushStarted, _session.TimeProvider.GetTimestamp());
                    var result = await _output.FlushAsync().ConfigureAwait(false);
                    Volatile.Write(ref _flushStarted, 0);
                    if (result.IsCanceled || result.IsCompleted)
                    {
                        break;
                    }
                }
                if (finalWritten || (_exitWhenIdle && _control.IsEmpty && _ready.IsEmpty))
                {
                    break;
                }
                owned = false;
                ReleaseGate();
                // Frames queued by a producer that found the gate taken are ours to write: look again before waiting.
                if (written == 0 && _control.IsEmpty && _ready.IsEmpty)
                {
                    await WaitForSignalAsync().ConfigureAwait(false);
                }
            }
        }
        catch (Exception ex)
        {
            _session.OnWriteFailed(ex);
        }
        finally
        {
            _session.OnWriterEnded();
            _exit = true;
            await TakeGateForExitAsync(owned).ConfigureAwait(false);
            await _output.CompleteAsync().ConfigureAwait(false);
        }
    }

    /// <summary>
    /// The loop takes the gate, or leaves word that it wanted it. A wake-up it took while a producer held the gate is
    /// spent; whatever it was for (frames, a close, <see cref="ExitWhenIdle"/>), that producer owes the loop another
    /// once it lets go. The word is written before the second try, and the holder reads it after its release (both full
    /// fences), so either the loop gets the gate or the holder sees the word. Without it, a close that arrived while a
    /// producer wrote inline left the loop waiting for a wake-up nobody sent (found by the fuzz corpus's replay).
    /// </summary>
    private bool TryTakeGateOrWait()
    {
        if (Interlocked.CompareExchange(ref _gate, 1, 0) == 0)
        {
            TakeLoopWaiting(); // word left earlier and answered by a wake-up that came another way
            return true;
        }
        Interlocked.Exchange(ref _loopWaiting, 1);
        if (Interlocked.CompareExchange(ref _gate, 1, 0) == 0)
        {
            Interlocked.Exchange(ref _loopWaiting, 0);
            return true;
        }
        return false;
    }

    /// <summary>After the gate's release: whether the loop left word that it waits for it (and clears the word).</summary>
    private bool TakeLoopWaiting() => Volatile.Read(ref _loopWaiting) != 0 && Interlocked.Exchange(ref _loopWaiting, 0) != 0;

    /// <summary>Whether the loop waits for a producer to let go of the gate, with no wake-up pending (tests).</summary>
    internal bool LoopWaitsForGate => Volatile.Read(ref _loopWaiting) != 0 && _signal.Reader.Count == 0;

    /// <summary>
    /// Lets go of the gate with a full fence. The holder looks at the queues right after; a producer that queued a frame
    /// and found the gate taken relies on that look. With a plain store, x86 may read the queues before the store is
    /// visible, so both would see the other still busy and the frame would wait for an unrelated wake-up (seen as
    /// stalls of many seconds under load).
    /// </summary>
    private void ReleaseGate() => Interlocked.Exchange(ref _gate, 0);

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask WaitForSignalAsync()
    {
        await _signal.Reader.WaitToReadAsync().ConfigureAwait(false);
        _signal.Reader.TryRead(out _);
    }

    /// <summary>Waits out an inline writer (it sees <see cref="_exit"/> and stops) so the output is completed by one thread only; the gate is never released again.</summary>
    private async ValueTask TakeGateForExitAsync(bool owned)
    {
        // An inline writer in the middle of a batch finishes it and releases, or hands its flush over to us.
        while (!owned && Interlocked.CompareExchange(ref _gate, 1, 0) != 0 && _handedOffFlush is null)
        {
            await Task.Yield();
        }
        if (_handedOffFlush is { } pending)
        {
            try
            {
                await pending.ConfigureAwait(false);
            }
            catch (Exception)
            {
                // The transport is being torn down; the close reason is already recorded.
            }
            _handedOffFlush = null;
        }
    }

    /// <summary>Frames everything queued, up to the batch size, into the output. Only the gate's holder calls it.</summary>
    private int WriteBatch(out bool finalWritten)
    {
        finalWritten = false;
        var total = 0;
        var frames = 0;
        var closing = _session.IsClosed;
        var maxPayload = _session.PeerSettings.MaxFramePayload;
        var maxBatch = _session.Options.MaxWriteBatch;
        while (total < maxBatch)
        {
            if (_control.TryDequeue(out var control))
            {
                total += WriteControl(control);
                frames++;
                if (control.IsReply)
                {
                    Interlocked.Decrement(ref _queuedReplies);
                }
                if (control.Final)
                {
                    finalWritten = true;
                    _finalWritten = true;
                    break;
                }
                continue;
            }
            if (closing && !_exitWhenIdle)
            {
                break; // an abort: no more data goes out
            }
            if (!_ready.TryDequeue(out var stream))
            {
                break;
            }
            total += stream.WriteNext(_output, MuxSession.ProtocolVersion, maxPayload, out var again, out var streamFrames);
            frames += streamFrames;
            if (again)
            {
                _ready.Enqueue(stream);
            }
        }
        _session.Counters._framesSent += frames;
        return total;
    }

    private int WriteControl(in ControlFrame frame)
    {
        const byte version = MuxSession.ProtocolVersion;
        switch (frame.Type)
        {
            case FrameType.WindowUpdate:
                FrameWriter.WriteWindowUpdate(_output, version, frame.StreamId, (uint)frame.Value);
                return FrameHeader.Size + 4;
            case FrameType.Reset:
                FrameWriter.WriteReset(_output, version, frame.StreamId, (ErrorCode)frame.Value);
                return FrameHeader.Size + 4;
            case FrameType.Ping:
                FrameWriter.WritePing(_output, version, frame.Value, frame.Ack);
                return FrameHeader.Size + 8;
            case FrameType.GoAway:
                var reason = Volatile.Read(ref _goAwayReason);
                FrameWriter.WriteGoAway(_output, version, (uint)(frame.Value >> 32), (ErrorCode)(uint)frame.Value, reason);
                return FrameHeader.Size + 8 + reason.Length;
            default:
                throw new InvalidOperationException($"{frame.Type} is not a control frame");
        }
    }
}
