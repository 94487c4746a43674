using System.Collections.Concurrent;
using System.IO.Pipelines;
using System.Runtime.CompilerServices;
using System.Text;
using System.Threading.Channels;
using Warren.Protocol.Framing;
using Warren.Protocol.Streams;

namespace Warren.Protocol.Session;

public sealed partial class MuxSession
{
    /// <summary>A small frame that jumps ahead of DATA. <see cref="IsReply"/> ones were provoked by the peer and are bounded.</summary>
    internal readonly record struct ControlFrame(FrameType Type, uint StreamId, ulong Value, bool Ack = false, bool IsReply = false, bool Final = false);

    // Control frames (WINDOW_UPDATE, PING, RST, GOAWAY) go first; then ready streams, one frame each, round-robin.
    private readonly ConcurrentQueue<ControlFrame> _control = new();
    private readonly ConcurrentQueue<MuxStream> _ready = new();
    // Wakes the writer; capacity 1 and DropWrite, so signalling never blocks and never piles up.
    private readonly Channel<bool> _signal;
    private int _queuedReplies;
    private long _flushStarted;            // timestamp while a flush is pending, else 0 (watched by OnTick)
    private volatile bool _writerExit;     // stop now
    private volatile bool _writerExitWhenIdle; // stop once both queues are empty
    private byte[] _goAwayReason = [];

    internal void ScheduleStream(MuxStream stream)
    {
        _ready.Enqueue(stream);
        Signal();
    }

    internal void EnqueueReset(uint streamId, ErrorCode code) => EnqueueControl(new ControlFrame(FrameType.Reset, streamId, (ulong)code));

    internal void EnqueueWindowUpdate(uint streamId, uint increment) => EnqueueControl(new ControlFrame(FrameType.WindowUpdate, streamId, increment));

    private void EnqueueGoAway(uint lastPeerId, ErrorCode code, string reason, bool final)
    {
        var bytes = Encoding.UTF8.GetBytes(reason);
        Volatile.Write(ref _goAwayReason, bytes.Length > FrameLimits.MaxGoAwayReason ? bytes[..FrameLimits.MaxGoAwayReason] : bytes);
        EnqueueControl(new ControlFrame(FrameType.GoAway, 0, ((ulong)lastPeerId << 32) | (uint)code, Final: final));
    }

    private void EnqueueControl(in ControlFrame frame)
    {
        _control.Enqueue(frame);
        Signal();
    }

    /// <summary>Queues a frame the peer provoked. A peer that makes us queue too many (ping or reset floods) is cut off.</summary>
    private void EnqueueReply(ControlFrame frame)
    {
        if (Interlocked.Increment(ref _queuedReplies) > Options.MaxQueuedControlReplies)
        {
            throw new ProtocolException(ErrorCode.EnhanceYourCalm, $"over {Options.MaxQueuedControlReplies} control replies queued: the peer sends faster than it reads");
        }
        EnqueueControl(frame with { IsReply = true });
    }

    private void Signal() => _signal.Writer.TryWrite(true);

    /// <summary>
    /// The transport ended under us (EOF on read, or the peer completed its side so writes report completion).
    /// After a GOAWAY with no stream left that is how a drain ends, so it is a clean close; otherwise the
    /// connection was lost and every stream fails. The reader and the writer can notice first; both decide alike.
    /// </summary>
    private void OnTransportEnded(string how, bool cleanEnd)
    {
        bool drained;
        lock (_stateLock)
        {
            drained = cleanEnd && (_remoteGoAway || _localGoAway) && _streams.IsEmpty;
        }
        Close(new SessionCloseInfo(drained ? ErrorCode.NoError : ErrorCode.ConnectionLost, ByPeer: true, how), drained ? CloseMode.Graceful : CloseMode.Immediate);
    }

    // Ownership of the transport's output: 1 while exactly one thread (the writer loop, or a producer writing inline)
    // may write frames and flush. Whoever holds it and leaves work queued signals the loop (no lost wake-ups).
    private int _writing;
    // A flush an inline producer could not complete synchronously; the loop takes it over (and ownership with it).
    private volatile Task<FlushResult>? _handedOffFlush;
    private volatile bool _finalWritten;

    /// <summary>
    /// The fast path (as StackExchange.Redis does): a producer that just queued data writes it now on its own thread
    /// if nobody else is writing, sparing two thread hops (to the writer loop and back) per write. If the writer is
    /// busy the queued data simply waits for it; if the flush would block, the loop takes the flush over.
    /// </summary>
    internal void TryWriteInline()
    {
        if (_writerExit || _closeInfo is not null || Interlocked.CompareExchange(ref _writing, 1, 0) != 0)
        {
            return;
        }
        var handedOff = false;
        try
        {
            if (_writerExit || _finalWritten)
            {
                return;
            }
            var output = _transport.Output;
            if (WriteBatch(output, out _) > 0)
            {
                Volatile.Write(ref _flushStarted, TimeProvider.GetTimestamp());
                var flush = output.FlushAsync();
                if (!flush.IsCompletedSuccessfully)
                {
                    _handedOffFlush = flush.AsTask();
                    handedOff = true;
                    return;
                }
                Volatile.Write(ref _flushStarted, 0);
                if (flush.Result is { IsCanceled: true } or { IsCompleted: true })
                {
                    _writerExit = true;
                }
            }
        }
        catch (Exception ex)
        {
            Close(new SessionCloseInfo(ErrorCode.ConnectionLost, ByPeer: false, "write failed: " + ex.Message), CloseMode.Immediate);
        }
        finally
        {
            if (!handedOff)
            {
                Volatile.Write(ref _writing, 0);
            }
            if (handedOff || _writerExit || _finalWritten || !_control.IsEmpty || !_ready.IsEmpty)
            {
                Signal();
            }
        }
    }

    /// <summary>
    /// The writer loop: whenever frames are queued and no producer is writing inline, it writes everything queued
    /// (up to <see cref="SessionOptions.MaxWriteBatch"/>) into the transport's pipe and flushes once, so many small
    /// frames leave in one write. It also finishes flushes that producers handed over.
    /// </summary>
    private async Task WriteLoopAsync()
    {
        await Task.Yield();
        var output = _transport.Output;
        var owned = false;
        try
        {
            while (!_writerExit)
            {
                if (_handedOffFlush is { } pending)
                {
                    // Ownership came with the flush.
                    owned = true;
                    var handed = await pending.ConfigureAwait(false);
                    _handedOffFlush = null;
                    Volatile.Write(ref _flushStarted, 0);
                    if (handed.IsCanceled || handed.IsCompleted)
                    {
                        break;
                    }
                }
                else if (Interlocked.CompareExchange(ref _writing, 1, 0) != 0)
                {
                    await WaitForSignalAsync().ConfigureAwait(false);
                    continue;
                }
                owned = true;
                if (_finalWritten)
                {
                    break;
                }
                var written = WriteBatch(output, out var finalWritten);
                if (written > 0)
                {
                    Volatile.Write(ref _flushStarted, TimeProvider.GetTimestamp());
                    var result = await output.FlushAsync().ConfigureAwait(false);
                    Volatile.Write(ref _flushStarted, 0);
                    if (result.IsCanceled || result.IsCompleted)
                    {
                        break;
                    }
                }
                if (finalWritten || (_writerExitWhenIdle && _control.IsEmpty && _ready.IsEmpty))
                {
                    break;
                }
                owned = false;
                Volatile.Write(ref _writing, 0);
                if (written == 0)
                {
                    await WaitForSignalAsync().ConfigureAwait(false);
                }
            }
        }
        catch (Exception ex)
        {
            Close(new SessionCloseInfo(ErrorCode.ConnectionLost, ByPeer: false, "write failed: " + ex.Message), CloseMode.Immediate);
        }
        finally
        {
            if (_closeInfo is null)
            {
                OnTransportEnded("the peer stopped reading", cleanEnd: true);
            }
            _writerExit = true;
            await TakeOwnershipForExitAsync(owned).ConfigureAwait(false);
            await output.CompleteAsync().ConfigureAwait(false);
            // The writer is done; the reader has nothing left to wait for.
            CancelPendingRead();
        }
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask WaitForSignalAsync()
    {
        await _signal.Reader.WaitToReadAsync().ConfigureAwait(false);
        _signal.Reader.TryRead(out _);
    }

    /// <summary>Waits out an inline writer (it sees <see cref="_writerExit"/> and stops) so the output is completed by one thread only; ownership is never released again.</summary>
    private async ValueTask TakeOwnershipForExitAsync(bool owned)
    {
        // An inline writer in the middle of a batch finishes it and releases, or hands its flush over to us.
        while (!owned && Interlocked.CompareExchange(ref _writing, 1, 0) != 0 && _handedOffFlush is null)
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

    private int WriteBatch(PipeWriter output, out bool finalWritten)
    {
        finalWritten = false;
        var total = 0;
        var frames = 0;
        var closing = _closeInfo is not null;
        while (total < Options.MaxWriteBatch)
        {
            if (_control.TryDequeue(out var control))
            {
                total += WriteControl(output, control);
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
            if (closing && !_writerExitWhenIdle)
            {
                break; // an abort: no more data goes out
            }
            if (!_ready.TryDequeue(out var stream))
            {
                break;
            }
            total += stream.WriteNext(output, ProtocolVersion, PeerSettings.MaxFramePayload, out var again, out var streamFrames);
            frames += streamFrames;
            if (again)
            {
                _ready.Enqueue(stream);
            }
        }
        Counters._framesSent += frames;
        return total;
    }

    private int WriteControl(PipeWriter output, in ControlFrame frame)
    {
        switch (frame.Type)
        {
            case FrameType.WindowUpdate:
                FrameWriter.WriteWindowUpdate(output, ProtocolVersion, frame.StreamId, (uint)frame.Value);
                return FrameHeader.Size + 4;
            case FrameType.Reset:
                FrameWriter.WriteReset(output, ProtocolVersion, frame.StreamId, (ErrorCode)frame.Value);
                return FrameHeader.Size + 4;
            case FrameType.Ping:
                FrameWriter.WritePing(output, ProtocolVersion, frame.Value, frame.Ack);
                return FrameHeader.Size + 8;
            case FrameType.GoAway:
                var reason = Volatile.Read(ref _goAwayReason);
                FrameWriter.WriteGoAway(output, ProtocolVersion, (uint)(frame.Value >> 32), (ErrorCode)(uint)frame.Value, reason);
                return FrameHeader.Size + 8 + reason.Length;
            default:
                throw new InvalidOperationException($"{frame.Type} is not a control frame");
        }
    }
}
