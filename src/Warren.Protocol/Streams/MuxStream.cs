using System.Buffers;
using System.Diagnostics;
using System.IO.Pipelines;
using System.Threading.Tasks.Sources;
using Warren.Protocol.Framing;
using Warren.Protocol.Session;

namespace Warren.Protocol.Streams;

/// <summary>
/// One multiplexed stream, exposed as a <see cref="Stream"/> so HTTP clients and socket splicers can use it as
/// they would a socket.
/// <para>
/// Send path: <see cref="WriteAsync(ReadOnlyMemory{byte}, CancellationToken)"/> hands the caller's buffer to the
/// session's single writer loop and completes once every byte has been framed into the transport (one copy, no
/// intermediate buffer). The writer takes at most one frame per turn from each ready stream, so streams share the
/// link fairly. Receive path: the session's reader copies DATA into <see cref="_inbound"/>, bounded by the receive
/// window; credit goes back to the peer when the application <em>consumes</em> bytes (docs/protocol.md §6).
/// </para>
/// Lock order: a stream's <see cref="_lock"/> may be taken while holding nothing else; the session never holds a
/// lock of its own while calling into a stream, and no lock is ever held across I/O.
/// </summary>
public sealed class MuxStream : Stream, IValueTaskSource, IValueTaskSource<int>
{
    private readonly MuxSession _session;
    private readonly Lock _lock = new();
    private readonly Pipe _inbound;

    // Bytes written to _inbound and not yet read or discarded by the application, this stream's and the process's
    // (a gauge for soak runs: it must return to zero once traffic stops).
    private static long s_inboundBuffered;
    private long _inboundBuffered;

    // Send state (under _lock).
    private long _sendWindow;
    private ReadOnlyMemory<byte> _pendingWrite;
    private bool _writeInProgress;
    private ManualResetValueTaskSourceCore<bool> _writeSource = new() { RunContinuationsAsynchronously = true };

    // The waiting read (at most one). Its continuation already runs on the thread pool (the pipe schedules it there,
    // never on the session's reader loop), so the caller's continuation may run inline.
    private ManualResetValueTaskSourceCore<int> _readCore;
    private ValueTask<ReadResult> _pendingRead;
    private Memory<byte> _readBuffer;
    private Action? _onReadReady;
    private CancellationTokenRegistration _writeCancellation;
    private bool _openPending;     // local stream: OPEN not yet written
    private bool _acceptPending;   // remote stream: ACCEPT requested, not yet written
    private bool _acceptSent;
    private bool _finRequested;
    private bool _finSent;
    private bool _scheduled;

    // Receive state (under _lock).
    private int _recvWindowSize;
    private long _recvCredit;          // bytes the peer may still send
    private long _consumedUnacked;     // bytes read by the application, not yet returned as credit
    private long _lastWindowUpdate;    // timestamp, for window auto-tuning
    private long _growth;              // bytes of window taken from the session's growth budget
    private bool _finReceived;
    private bool _readEof;
    // The inbound pipe's reader is owned by the application's read; it is completed (its blocks go back to the pool)
    // when the data can no longer be read: at once if no read is in flight, else when that read ends.
    private bool _reading;
    private bool _discardRequested;
    private bool _inboundDiscarded;
    private Exception? _discardReason;

    private ErrorCode? _resetCode;
    private bool _resetByPeer;
    private bool _closed;              // removed from the session table
    private CancellationTokenSource? _aborted;  // created on first use of Aborted
    private readonly TaskCompletionSource? _accepted;

    internal MuxStream(MuxSession session, uint id, bool isLocal, ReadOnlyMemory<byte> metadata, int peerInitialWindow, int localInitialWindow)
    {
        _session = session;
        Id = id;
        IsLocal = isLocal;
        Metadata = metadata;
        _sendWindow = peerInitialWindow;
        _recvWindowSize = localInitialWindow;
        _recvCredit = localInitialWindow;
        _lastWindowUpdate = session.TimeProvider.GetTimestamp();
        _inbound = new Pipe(session.InboundPipeOptions);
        if (isLocal)
        {
            // The session queues the OPEN itself, in id order, as it creates the stream (MuxSession.OpenStreamAsync).
            _openPending = true;
            _scheduled = true;
            _accepted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }
    }

    /// <summary>Stream id on the wire (docs/protocol.md §3.1).</summary>
    public uint Id { get; }

    /// <summary>True when this side opened the stream.</summary>
    public bool IsLocal { get; }

    /// <summary>The metadata carried by the OPEN frame.</summary>
    public ReadOnlyMemory<byte> Metadata { get; }

    /// <summary>The session this stream belongs to.</summary>
    public MuxSession Session => _session;

    /// <summary>The reset code, once the stream has been reset by either side.</summary>
    public ErrorCode? ResetCode { get { lock (_lock) { return _resetCode; } } }

    /// <summary>
    /// Cancelled when the stream is reset (by either side) or its session ends: work done on the stream's behalf
    /// before any byte moves (a queue wait, a dial) stops when nobody is left to serve.
    /// </summary>
    public CancellationToken Aborted
    {
        get
        {
            lock (_lock)
            {
                if (_resetCode is not null)
                {
                    return new CancellationToken(canceled: true);
                }
                _aborted ??= new CancellationTokenSource();
                return _aborted.Token;
            }
        }
    }

    internal Task AcceptedTask => _accepted!.Task;

    /// <summary>For a stream the peer opened: whether the application accepted it (used by the abuse budget).</summary>
    internal bool WasAccepted { get { lock (_lock) { return _acceptSent || _acceptPending; } } }

    internal int ReceiveWindowSize { get { lock (_lock) { return _recvWindowSize; } } }

    /// <summary>Bytes received by every stream in this process and not yet read or discarded by its application.</summary>
    public static long InboundBufferedBytes => Volatile.Read(ref s_inboundBuffered);

    internal long InboundBuffered { get { lock (_lock) { return _inboundBuffered; } } }

    // ---------------------------------------------------------------- application API

    /// <summary>Accepts a stream the peer opened: the peer learns that the stream is being served.</summary>
    public void Accept()
    {
        lock (_lock)
        {
            if (IsLocal || _acceptSent || _acceptPending || _resetCode is not null || _closed)
            {
                return;
            }
            _acceptPending = true;
            ScheduleUnsynchronized();
        }
    }

    /// <summary>Refuses or aborts the stream with a reset carrying <paramref name="code"/>. Safe to call twice.</summary>
    public void Abort(ErrorCode code = ErrorCode.Cancel) => ResetCore(code, sendReset: true, byPeer: false);

    /// <summary>Half-closes the send direction: a FIN follows the bytes already written.</summary>
    public void CompleteWrites()
    {
        lock (_lock)
        {
            if (_finRequested || _resetCode is not null || _closed)
            {
                return;
            }
            _finRequested = true;
            ScheduleUnsynchronized();
        }
    }

    public override bool CanRead => true;
    public override bool CanWrite => true;
    public override bool CanSeek => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Flush() { }
    public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    public override void Write(byte[] buffer, int offset, int count) => WriteAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    /// <summary>
    /// Reads what has arrived, up to <paramref name="buffer"/>'s length; 0 at the end of the stream. A zero-length
    /// buffer waits until data is available without taking any, so idle readers hold no buffer (as YARP's copier does).
    /// </summary>
    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (_readEof)
        {
            return new ValueTask<int>(0);
        }
        lock (_lock)
        {
            if (_inboundDiscarded || _discardRequested)
            {
                return ValueTask.FromException<int>(_discardReason!);
            }
            if (_reading)
            {
                return ValueTask.FromException<int>(new InvalidOperationException("a read is already in progress on this stream"));
            }
            _reading = true;
        }
        try
        {
            var pending = _inbound.Reader.ReadAsync(cancellationToken);
            if (pending.IsCompleted)
            {
                return new ValueTask<int>(FinishRead(pending, buffer.Span));
            }
            // Nothing buffered: wait without an async state machine (whose box would be allocated per waiting read,
            // i.e. per DATA frame for a reader that keeps up).
            _readCore.Reset();
            _readBuffer = buffer;
            _pendingRead = pending;
            pending.ConfigureAwait(false).GetAwaiter().UnsafeOnCompleted(_onReadReady ??= OnReadReady);
            return new ValueTask<int>(this, _readCore.Version);
        }
        catch (Exception error)
        {
            EndRead();
            return ValueTask.FromException<int>(error);
        }
    }

    /// <summary>The pipe has data (or the end, or the read was cancelled): finishes the waiting read on this thread.</summary>
    private void OnReadReady()
    {
        var pending = _pendingRead;
        var buffer = _readBuffer;
        _pendingRead = default;
        _readBuffer = default;
        int count;
        try
        {
            count = FinishRead(pending, buffer.Span);
        }
        catch (Exception error)
        {
            _readCore.SetException(error);
            return;
        }
        _readCore.SetResult(count);
    }

    private int FinishRead(ValueTask<ReadResult> pending, Span<byte> buffer)
    {
        try
        {
            return Consume(pending.GetAwaiter().GetResult(), buffer);
        }
        finally
        {
            EndRead();
        }
    }

    private void EndRead()
    {
        lock (_lock)
        {
            _reading = false;
            if (_discardRequested)
            {
                DiscardInboundUnsynchronized(_discardReason!);
            }
        }
    }

    /// <summary>
    /// Under _lock: what is buffered can no longer be read (reset, disposed), so its blocks go back to the pool now,
    /// or when the read in flight ends; later reads fail with <paramref name="reason"/>.
    /// </summary>
    private void DiscardInboundUnsynchronized(Exception reason)
    {
        _discardReason ??= reason;
        if (_reading)
        {
            _discardRequested = true;
            return;
        }
        _discardRequested = false;
        if (!_inboundDiscarded)
        {
            _inboundDiscarded = true;
            _inbound.Reader.Complete();
            ReleaseInboundUnsynchronized(_inboundBuffered);
        }
    }

    private int Consume(ReadResult result, Span<byte> buffer)
    {
        var data = result.Buffer;
        if (data.IsEmpty && result.IsCompleted)
        {
            _inbound.Reader.AdvanceTo(data.End);
            _readEof = true;
            OnReadEof();
            return 0;
        }
        if (buffer.IsEmpty)
        {
            _inbound.Reader.AdvanceTo(data.Start);
            return 0;
        }
        var count = (int)Math.Min(buffer.Length, data.Length);
        data.Slice(0, count).CopyTo(buffer);
        _inbound.Reader.AdvanceTo(data.GetPosition(count));
        OnConsumed(count);
        return count;
    }

    /// <summary>
    /// Queues <paramref name="buffer"/> for the session's writer and completes when all of it is framed. Only one
    /// write may be outstanding per stream. Cancelling a write resets the stream, since part of it may be sent.
    /// </summary>
    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        short version;
        lock (_lock)
        {
            if (_resetCode is { } code)
            {
                // Say who reset it: a write racing the peer's RST must report ByPeer like the read does.
                return ValueTask.FromException(new StreamAbortedException(code, _resetByPeer));
            }
            if (_closed || _finRequested)
            {
                return ValueTask.FromException(new InvalidOperationException("the stream's send side is closed"));
            }
            if (_writeInProgress)
            {
                return ValueTask.FromException(new InvalidOperationException("a write is already in progress on this stream"));
            }
            if (buffer.IsEmpty)
            {
                return ValueTask.CompletedTask;
            }
            if (cancellationToken.IsCancellationRequested)
            {
                return ValueTask.FromCanceled(cancellationToken);
            }
            _writeInProgress = true;
            _pendingWrite = buffer;
            _writeSource.Reset();
            if (!IsLocal && !_acceptSent)
            {
                _acceptPending = true;   // writing implies accepting
            }
            ScheduleUnsynchronized();
            if (cancellationToken.CanBeCanceled)
            {
                _writeCancellation = cancellationToken.UnsafeRegister(static s => ((MuxStream)s!).Abort(ErrorCode.Cancel), this);
            }
            version = _writeSource.Version;
        }
        // Outside the lock: write now on this thread if the session's writer is idle. When that frames all of the
        // buffer, the returned task is already complete and the caller goes on without a thread hop.
        _session.TryWriteInline();
        return new ValueTask(this, version);
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            CloseForDispose();
        }
        base.Dispose(disposing);
    }

    public override ValueTask DisposeAsync()
    {
        CloseForDispose();
        return base.DisposeAsync();
    }

    /// <summary>
    /// Disposing ends the stream: if both directions already ended it is simply released; if only the peer's side
    /// ended, a FIN closes ours; otherwise we can no longer read what the peer sends, so the stream is reset (CANCEL).
    /// </summary>
    private void CloseForDispose()
    {
        bool reset;
        lock (_lock)
        {
            DiscardInboundUnsynchronized(new ObjectDisposedException(ToString()));
            if (_closed || _resetCode is not null)
            {
                reset = false;
            }
            else if (_finReceived && !_writeInProgress)
            {
                if (!_finRequested)
                {
                    _finRequested = true;
                    ScheduleUnsynchronized();
                }
                reset = false;
            }
            else
            {
                reset = true;
            }
        }
        if (reset)
        {
            Abort(ErrorCode.Cancel);
        }
    }

    // ---------------------------------------------------------------- IValueTaskSource<int> (the waiting read)

    int IValueTaskSource<int>.GetResult(short token) => _readCore.GetResult(token);

    ValueTaskSourceStatus IValueTaskSource<int>.GetStatus(short token) => _readCore.GetStatus(token);

    void IValueTaskSource<int>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _readCore.OnCompleted(continuation, state, token, flags);

    // ---------------------------------------------------------------- IValueTaskSource (the pending write)

    void IValueTaskSource.GetResult(short token) => _writeSource.GetResult(token);

    ValueTaskSourceStatus IValueTaskSource.GetStatus(short token) => _writeSource.GetStatus(token);

    void IValueTaskSource.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _writeSource.OnCompleted(continuation, state, token, flags);

    // Called under _lock; the continuation runs asynchronously (RunContinuationsAsynchronously), never inline.
    private void CompleteWriteUnsynchronized(Exception? error)
    {
        if (!_writeInProgress)
        {
            return;
        }
        _writeInProgress = false;
        _pendingWrite = default;
        // Disposing the registration from inside its own callback would deadlock; Unregister never waits.
        _writeCancellation.Unregister();
        _writeCancellation = default;
        if (error is null)
        {
            _writeSource.SetResult(true);
        }
        else
        {
            _writeSource.SetException(error);
        }
    }

    // ---------------------------------------------------------------- writer loop side

    private void ScheduleUnsynchronized()
    {
        if (_scheduled || _closed)
        {
            return;
        }
        if (_openPending || _acceptPending || (_finRequested && !_finSent) || (_writeInProgress && _sendWindow > 0))
        {
            _scheduled = true;
            _session.ScheduleStream(this);
        }
        else if (_writeInProgress)
        {
            Interlocked.Increment(ref _session.Counters._flowControlStalls);
        }
    }

    /// <summary>
    /// Called by the session's writer loop only: writes this stream's OPEN/ACCEPT and at most one DATA frame.
    /// Returns the bytes written and whether the stream wants another turn.
    /// </summary>
    internal int WriteNext(IBufferWriter<byte> output, byte version, int maxFramePayload, out bool again, out int frames)
    {
        var written = 0;
        frames = 0;
        lock (_lock)
        {
            _scheduled = false;
            again = false;
            if (_resetCode is not null || _closed)
            {
                return 0;
            }
            if (_openPending)
            {
                FrameWriter.WriteOpen(output, version, Id, Metadata.Span, fin: false);
                _openPending = false;
                written += FrameHeader.Size + Metadata.Length;
                frames++;
            }
            if (_acceptPending)
            {
                FrameWriter.WriteAccept(output, version, Id);
                _acceptPending = false;
                _acceptSent = true;
                written += FrameHeader.Size;
                frames++;
            }
            if (_writeInProgress && _sendWindow > 0)
            {
                var count = (int)Math.Min(Math.Min(_pendingWrite.Length, maxFramePayload), _sendWindow);
                var last = count == _pendingWrite.Length;
                var fin = last && _finRequested;
                FrameWriter.WriteData(output, version, Id, _pendingWrite.Span[..count], fin);
                _sendWindow -= count;
                written += FrameHeader.Size + count;
                frames++;
                _session.Counters._bytesSent += count;
                if (fin)
                {
                    _finSent = true;
                }
                if (last)
                {
                    CompleteWriteUnsynchronized(null);
                }
                else
                {
                    _pendingWrite = _pendingWrite[count..];
                }
            }
            else if (_finRequested && !_finSent && !_writeInProgress)
            {
                FrameWriter.WriteData(output, version, Id, default, fin: true);
                _finSent = true;
                written += FrameHeader.Size;
                frames++;
            }

            if (_writeInProgress)
            {
                if (_sendWindow > 0)
                {
                    // More to send: go to the back of the queue so other streams get their turn first.
                    _scheduled = true;
                    again = true;
                }
                else
                {
                    Interlocked.Increment(ref _session.Counters._flowControlStalls);
                }
            }
            else if (_finRequested && !_finSent)
            {
                _scheduled = true;
                again = true;
            }
        }
        TryComplete();
        return written;
    }

    // ---------------------------------------------------------------- reader loop side

    /// <summary>DATA arrived (reader loop). Throws <see cref="ProtocolException"/> for window or state violations.</summary>
    internal void OnData(in ReadOnlySequence<byte> payload, bool fin)
    {
        var length = payload.Length;
        lock (_lock)
        {
            if (_finReceived)
            {
                throw new ProtocolException(ErrorCode.ProtocolError, $"DATA on stream {Id} after its FIN");
            }
            if (length > _recvCredit)
            {
                throw new ProtocolException(ErrorCode.FlowControlError, $"DATA of {length} bytes on stream {Id} exceeds its window of {_recvCredit}");
            }
            _recvCredit -= length;
            if (_resetCode is not null || _closed)
            {
                return; // reset locally: late data is dropped
            }
            if (length > 0)
            {
                var writer = _inbound.Writer;
                foreach (var segment in payload)
                {
                    writer.Write(segment.Span);
                }
                // Completes synchronously: the pipe has no pause threshold; the window is the bound.
                var flush = writer.FlushAsync();
                Debug.Assert(flush.IsCompleted, "an unthrottled pipe flushes synchronously");
                flush.GetAwaiter().GetResult();
                _inboundBuffered += length;
                Interlocked.Add(ref s_inboundBuffered, length);
            }
            if (fin)
            {
                _finReceived = true;
                _inbound.Writer.Complete();
            }
        }
        if (fin)
        {
            TryComplete();
        }
    }

    /// <summary>WINDOW_UPDATE arrived (reader loop).</summary>
    internal void OnWindowUpdate(uint increment)
    {
        lock (_lock)
        {
            _sendWindow += increment;
            if (_sendWindow > int.MaxValue)
            {
                throw new ProtocolException(ErrorCode.FlowControlError, $"WINDOW_UPDATE pushes stream {Id}'s window past 2^31-1");
            }
            ScheduleUnsynchronized();
        }
    }

    /// <summary>ACCEPT arrived for a stream we opened (reader loop).</summary>
    internal void OnAccepted()
    {
        if (!IsLocal)
        {
            throw new ProtocolException(ErrorCode.ProtocolError, $"ACCEPT for stream {Id}, which the peer opened");
        }
        if (!_accepted!.TrySetResult())
        {
            throw new ProtocolException(ErrorCode.ProtocolError, $"duplicate ACCEPT for stream {Id}");
        }
    }

    /// <summary>RST arrived (reader loop).</summary>
    internal void OnReset(ErrorCode code) => ResetCore(code, sendReset: false, byPeer: true);

    /// <summary>The session ended; fail everything that waits.</summary>
    internal void OnSessionClosed(SessionClosedException error)
    {
        lock (_lock)
        {
            if (_closed)
            {
                return;
            }
            _resetCode ??= error.Code == ErrorCode.NoError ? ErrorCode.Cancel : error.Code;
            CompleteWriteUnsynchronized(error);
            if (!_finReceived)
            {
                _inbound.Writer.Complete(error);
                DiscardInboundUnsynchronized(error);
            }
            _closed = true;
        }
        _accepted?.TrySetException(error);
        CancelAborted();
    }

    private void ResetCore(ErrorCode code, bool sendReset, bool byPeer)
    {
        lock (_lock)
        {
            if (_resetCode is not null || _closed)
            {
                return;
            }
            _resetCode = code;
            _resetByPeer = byPeer;
            if (_openPending)
            {
                // The OPEN never left (the writer skips reset streams): the peer has not heard of this id, and an RST
                // for it would be a frame for a never-opened stream, a PROTOCOL_ERROR there (§5.3). Send nothing.
                _openPending = false;
                sendReset = false;
            }
            var error = new StreamAbortedException(code, byPeer);
            CompleteWriteUnsynchronized(error);
            if (!_finReceived)
            {
                _inbound.Writer.Complete(error);
            }
            // A reset stream frees its data; late frames are drained by the session (docs/protocol.md §5).
            DiscardInboundUnsynchronized(error);
        }
        _accepted?.TrySetException(new StreamAbortedException(code, byPeer));
        CancelAborted();
        if (sendReset)
        {
            _session.EnqueueReset(Id, code);
        }
        TryComplete();
    }

    /// <summary>Runs <see cref="Aborted"/>'s callbacks, outside the lock: they may call back into the stream.</summary>
    private void CancelAborted()
    {
        CancellationTokenSource? aborted;
        lock (_lock)
        {
            aborted = _aborted;
        }
        aborted?.Cancel();
    }

    // ---------------------------------------------------------------- credit

    private void OnConsumed(int count)
    {
        uint increment;
        lock (_lock)
        {
            ReleaseInboundUnsynchronized(count);
            if (_finReceived || _resetCode is not null || _closed)
            {
                return; // the peer sends nothing more; no credit needed
            }
            _consumedUnacked += count;
            // Batch credit (as Kestrel and yamux do): update once half the window has been consumed.
            if (_consumedUnacked < _recvWindowSize / 2)
            {
                return;
            }
            var now = _session.TimeProvider.GetTimestamp();
            var grow = AutoTuneUnsynchronized(now);
            increment = (uint)(_consumedUnacked + grow);
            _recvCredit += increment;
            _consumedUnacked = 0;
            _lastWindowUpdate = now;
        }
        _session.EnqueueWindowUpdate(Id, increment);
    }

    /// <summary>
    /// Grows the window when half of it was consumed in under two round trips: the stream is then limited by the
    /// window rather than by its consumer, so the link's bandwidth-delay product is larger than the window
    /// (docs/protocol.md §6.2, after quic-go's auto-tuning). Growth comes out of the session's budget.
    /// </summary>
    private long AutoTuneUnsynchronized(long now)
    {
        var rtt = _session.SmoothedRtt;
        if (rtt <= TimeSpan.Zero || _recvWindowSize >= _session.Options.MaxStreamWindow)
        {
            return 0;
        }
        var elapsed = _session.TimeProvider.GetElapsedTime(_lastWindowUpdate, now);
        if (elapsed >= rtt * 2)
        {
            return 0;
        }
        var grow = Math.Min(_recvWindowSize, _session.Options.MaxStreamWindow - _recvWindowSize);
        grow = (int)_session.TryReserveWindowGrowth(grow);
        _recvWindowSize += grow;
        _growth += grow;
        return grow;
    }

    // Under _lock. Bounded by what is still counted: a read racing Dispose must not release twice.
    private void ReleaseInboundUnsynchronized(long count)
    {
        count = Math.Min(count, _inboundBuffered);
        _inboundBuffered -= count;
        Interlocked.Add(ref s_inboundBuffered, -count);
    }

    private void OnReadEof() => TryComplete();

    /// <summary>Leaves the session's table once both directions are done or the stream was reset.</summary>
    private void TryComplete()
    {
        long growth;
        lock (_lock)
        {
            if (_closed)
            {
                return;
            }
            var sendDone = _finSent || _resetCode is not null;
            var receiveDone = _finReceived || _resetCode is not null;
            if (!sendDone || !receiveDone)
            {
                return;
            }
            _closed = true;
            growth = _growth;
            _growth = 0;
        }
        _session.OnStreamClosed(this, growth);
    }

    public override string ToString() => $"stream {Id} ({(IsLocal ? "local" : "remote")})";
}
