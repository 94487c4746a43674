using System.Collections.Concurrent;
using System.IO.Pipelines;
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
    /// The single writer. It writes everything queued (up to <see cref="SessionOptions.MaxWriteBatch"/>) into the
    /// transport's pipe and flushes once, so many small frames leave in one write.
    /// </summary>
    private async Task WriteLoopAsync()
    {
        await Task.Yield();
        var output = _transport.Output;
        try
        {
            while (!_writerExit)
            {
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
                if (written == 0)
                {
                    await _signal.Reader.WaitToReadAsync().ConfigureAwait(false);
                    _signal.Reader.TryRead(out _);
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
                Close(new SessionCloseInfo(ErrorCode.ConnectionLost, ByPeer: false, "the transport stopped accepting writes"), CloseMode.Immediate);
            }
            await output.CompleteAsync().ConfigureAwait(false);
            // The writer is done; the reader has nothing left to wait for.
            _transport.Input.CancelPendingRead();
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
