using System.Buffers;
using Warren.Protocol.Framing;
using Warren.Protocol.Session;

namespace Warren.Protocol.Streams;

/// <summary>
/// One multiplexed stream, exposed as a <see cref="Stream"/> so HTTP clients and socket splicers can use it as
/// they would a socket.
/// <para>
/// It is four parts under one lock: the §5.2 lifecycle (<see cref="StreamState"/>, whose transitions are all in
/// <see cref="StreamStates"/>), a <see cref="StreamSender"/> (the pending write, framed by the session's single writer
/// straight from the caller's buffer), a <see cref="StreamReceiver"/> (unread bytes and the waiting read, filled by the
/// session's reader straight into the reader's buffer when one waits) and a <see cref="ReceiveWindow"/> (credit given
/// back when the application <em>consumes</em> bytes, docs/protocol.md §6). It reaches its session only through
/// <see cref="IStreamSession"/>.
/// </para>
/// Lock order: the stream's lock is taken while holding nothing else; the session calls into a stream holding no
/// lock of its own, and nothing here runs another party's code (a continuation) under the lock or across I/O.
/// </summary>
public sealed class MuxStream : Stream
{
    // Set while a read's continuation runs inline on the session's reader loop (MuxSession.Receive.cs): a blocking
    // Read or Write there would wait for the very loop it blocks.
    [ThreadStatic]
    private static bool t_onReaderLoop;

    private readonly IStreamSession _session;
    private readonly Lock _lock = new();
    private readonly StreamSender _sender;
    private readonly StreamReceiver _receiver;
    private readonly TaskCompletionSource? _accepted;
    private ReceiveWindow _window;
    private StreamState _state;
    private ErrorCode? _resetCode;
    private bool _resetByPeer;
    private Exception? _readError;     // reads fail with it once the inbound data is gone (reset, disposed, session closed)
    private bool _released;            // disposed by the application
    private int _settled;              // peer-opened: 2 once closed and released (MuxSession.OnPeerStreamReleased)
    private CancellationTokenSource? _aborted;  // created on first use of Aborted

    internal MuxStream(IStreamSession session, uint id, bool isLocal, ReadOnlyMemory<byte> metadata, int peerInitialWindow, int localInitialWindow)
    {
        _session = session;
        Id = id;
        IsLocal = isLocal;
        Metadata = metadata;
        _sender = new StreamSender(peerInitialWindow);
        _receiver = new StreamReceiver(session.BufferPool);
        _window = new ReceiveWindow(localInitialWindow, session.TimeProvider.GetTimestamp());
        if (isLocal)
        {
            // The session queues the OPEN itself, in id order, as it creates the stream (MuxSession.OpenStreamAsync).
            _state = StreamState.Idle;
            _sender.Scheduled = true;
            _accepted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }
        else
        {
            _state = StreamState.Open;
        }
    }

    /// <summary>Stream id on the wire (docs/protocol.md §3.1).</summary>
    public uint Id { get; }

    /// <summary>True when this side opened the stream.</summary>
    public bool IsLocal { get; }

    /// <summary>The metadata carried by the OPEN frame.</summary>
    public ReadOnlyMemory<byte> Metadata { get; }

    /// <summary>The session this stream belongs to.</summary>
    public MuxSession Session => (MuxSession)_session;

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

    internal StreamState State { get { lock (_lock) { return _state; } } }

    /// <summary>For a stream the peer opened: whether the application accepted it.</summary>
    internal bool WasAccepted { get { lock (_lock) { return _sender.AcceptSent || _sender.AcceptPending; } } }

    internal int ReceiveWindowSize { get { lock (_lock) { return _window.Size; } } }

    /// <summary>Bytes received by every stream in this process and not yet read or discarded by its application.</summary>
    public static long InboundBufferedBytes => StreamReceiver.BufferedBytesInProcess;

    internal long InboundBuffered { get { lock (_lock) { return _receiver.Buffered; } } }

    // ---------------------------------------------------------------- application API

    /// <summary>Accepts a stream the peer opened: the peer learns that the stream is being served.</summary>
    public void Accept()
    {
        lock (_lock)
        {
            if (IsLocal || _sender.AcceptSent || _sender.AcceptPending || _state == StreamState.Closed)
            {
                return;
            }
            _sender.AcceptPending = true;
            ScheduleUnsynchronized();
        }
    }

    /// <summary>Refuses or aborts the stream with a reset carrying <paramref name="code"/>. Safe to call twice.</summary>
    public void Abort(ErrorCode code = ErrorCode.Cancel) => Reset(code, byPeer: false);

    /// <summary>Half-closes the send direction: a FIN follows the bytes already written.</summary>
    public void CompleteWrites()
    {
        lock (_lock)
        {
            if (_sender.FinRequested || !StreamStates.LocalSending(_state))
            {
                return;
            }
            _sender.FinRequested = true;
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

    public override int Read(byte[] buffer, int offset, int count)
    {
        ThrowIfOnReaderLoop();
        return ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();
    }

    public override void Write(byte[] buffer, int offset, int count)
    {
        ThrowIfOnReaderLoop();
        WriteAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();
    }

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
        if (cancellationToken.IsCancellationRequested)
        {
            return ValueTask.FromCanceled<int>(cancellationToken);
        }
        int count;
        uint credit;
        short version;
        lock (_lock)
        {
            if (_receiver.IsWaiting)
            {
                return ValueTask.FromException<int>(new InvalidOperationException("a read is already in progress on this stream"));
            }
            if (_receiver.Buffered > 0)
            {
                count = buffer.IsEmpty ? 0 : _receiver.CopyTo(buffer.Span);
                credit = ConsumedUnsynchronized(count);
                goto Done;
            }
            if (_readError is { } error)
            {
                return ValueTask.FromException<int>(error);
            }
            if (!StreamStates.PeerSending(_state))
            {
                return new ValueTask<int>(0); // the peer's FIN, all of it read
            }
            _receiver.BeginWait(buffer);
            version = _receiver.Version;
        }
        if (cancellationToken.CanBeCanceled)
        {
            RegisterReadCancellation(version, cancellationToken);
        }
        return new ValueTask<int>(_receiver, version);

    Done:
        if (credit > 0)
        {
            _session.EnqueueWindowUpdate(Id, credit);
        }
        return new ValueTask<int>(count);
    }

    private void RegisterReadCancellation(short version, CancellationToken cancellationToken)
    {
        var registration = cancellationToken.UnsafeRegister(static (s, token) => ((MuxStream)s!).CancelRead(token), this);
        bool current;
        lock (_lock)
        {
            current = _receiver.IsWaiting && _receiver.Version == version;
            if (current)
            {
                _receiver.SetCancellation(registration);
            }
        }
        if (!current)
        {
            registration.Unregister(); // the read already ended
        }
        else if (cancellationToken.IsCancellationRequested)
        {
            CancelRead(cancellationToken); // it fired before it was recorded, and was ignored then
        }
    }

    private void CancelRead(CancellationToken token)
    {
        lock (_lock)
        {
            if (!_receiver.IsWaiting || _receiver.CancellationToken != token)
            {
                return;
            }
            _receiver.EndWait(0, new OperationCanceledException(token));
        }
        _receiver.Complete();
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
            if (!StreamStates.LocalSending(_state) || _sender.FinRequested)
            {
                return ValueTask.FromException(new InvalidOperationException("the stream's send side is closed"));
            }
            if (_sender.WriteInProgress)
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
            version = _sender.Begin(buffer);
            if (!IsLocal && !_sender.AcceptSent)
            {
                _sender.AcceptPending = true;   // writing implies accepting
            }
            ScheduleUnsynchronized(wake: false);
            if (cancellationToken.CanBeCanceled)
            {
                _sender.SetCancellation(cancellationToken.UnsafeRegister(static s => ((MuxStream)s!).Abort(ErrorCode.Cancel), this));
            }
        }
        // Outside the lock: write now on this thread if the session's writer is idle. When that frames all of the
        // buffer, the returned task is already complete and the caller goes on without a thread hop.
        _session.TryWriteInline();
        return new ValueTask(_sender, version);
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            Release();
        }
        base.Dispose(disposing);
    }

    public override ValueTask DisposeAsync()
    {
        Release();
        return base.DisposeAsync();
    }

    /// <summary>
    /// Disposing ends the stream: if both directions already ended it is simply released; if only the peer's side
    /// ended, a FIN closes ours; otherwise we can no longer read what the peer sends, so the stream is reset (CANCEL).
    /// </summary>
    private void Release()
    {
        bool reset;
        bool firstRelease;
        bool readEnded;
        lock (_lock)
        {
            firstRelease = !_released;
            _released = true;
            // A read waiting now fails (HttpClient disposes a connection to cancel the read it has pending on it).
            readEnded = DiscardInboundUnsynchronized(new ObjectDisposedException(ToString()));
            if (_state == StreamState.Closed)
            {
                reset = false;
            }
            else if (_state == StreamState.HalfClosedRemote && !_sender.WriteInProgress)
            {
                if (!_sender.FinRequested)
                {
                    _sender.FinRequested = true;
                    ScheduleUnsynchronized();
                }
                reset = false;
            }
            else
            {
                reset = true;
            }
        }
        if (readEnded)
        {
            DispatchRead();
        }
        if (reset)
        {
            Abort(ErrorCode.Cancel);
        }
        if (firstRelease && !IsLocal && Settle())
        {
            _session.OnPeerStreamSettled();
        }
    }

    /// <summary>
    /// A peer-opened stream is settled once it is closed and the application released it; the second of the two calls
    /// (one per event) returns true, and the stream stops counting against the peer's limit.
    /// </summary>
    internal bool Settle() => Interlocked.Increment(ref _settled) == 2;

    /// <summary>No ACCEPT within the open timeout (the session's tick): the open fails and the stream is reset.</summary>
    internal void OnOpenTimedOut(Exception error)
    {
        _accepted?.TrySetException(error);
        Abort(ErrorCode.Cancel);
    }

    // ---------------------------------------------------------------- writer loop side

    private void ScheduleUnsynchronized(bool wake = true)
    {
        if (_sender.Scheduled || _state == StreamState.Closed)
        {
            return;
        }
        if (_state == StreamState.Idle || _sender.AcceptPending || (_sender.FinRequested && StreamStates.LocalSending(_state)) || _sender.CanSendData)
        {
            _sender.Scheduled = true;
            _session.Schedule(this, wake);
        }
        else if (_sender.WriteInProgress)
        {
            Interlocked.Increment(ref _session.Counters._flowControlStalls);
        }
    }

    /// <summary>
    /// Called by the session's writer only: writes this stream's OPEN/ACCEPT and at most one DATA frame. Returns the
    /// bytes written and whether the stream wants another turn.
    /// </summary>
    internal int WriteNext(IBufferWriter<byte> output, byte version, int maxFramePayload, out bool again, out int frames)
    {
        var written = 0;
        frames = 0;
        bool closed;
        lock (_lock)
        {
            _sender.Scheduled = false;
            again = false;
            if (_state == StreamState.Closed)
            {
                return 0;
            }
            if (_state == StreamState.Idle)
            {
                FrameWriter.WriteOpen(output, version, Id, Metadata.Span, fin: false);
                _state = StreamStates.OpenSent(_state);
                written += FrameHeader.Size + Metadata.Length;
                frames++;
            }
            if (_sender.AcceptPending)
            {
                FrameWriter.WriteAccept(output, version, Id);
                _sender.AcceptPending = false;
                _sender.AcceptSent = true;
                written += FrameHeader.Size;
                frames++;
            }
            var finDue = _sender.FinRequested && StreamStates.LocalSending(_state);
            if (_sender.CanSendData)
            {
                var payload = _sender.TakeNext(maxFramePayload, out var last);
                var fin = last && finDue;
                FrameWriter.WriteData(output, version, Id, payload, fin);
                written += FrameHeader.Size + payload.Length;
                frames++;
                _session.Counters._bytesSent += payload.Length;
                if (fin)
                {
                    _state = StreamStates.FinSent(_state);
                }
                if (last)
                {
                    _sender.Complete(null);
                }
            }
            else if (finDue && !_sender.WriteInProgress)
            {
                FrameWriter.WriteData(output, version, Id, default, fin: true);
                _state = StreamStates.FinSent(_state);
                written += FrameHeader.Size;
                frames++;
            }

            if (_sender.WriteInProgress)
            {
                if (_sender.Window > 0)
                {
                    // More to send: go to the back of the queue so other streams get their turn first.
                    _sender.Scheduled = true;
                    again = true;
                }
                else
                {
                    Interlocked.Increment(ref _session.Counters._flowControlStalls);
                }
            }
            else if (_sender.FinRequested && StreamStates.LocalSending(_state))
            {
                _sender.Scheduled = true;
                again = true;
            }
            closed = _state == StreamState.Closed;
        }
        if (closed)
        {
            OnClosed();
        }
        return written;
    }

    // ---------------------------------------------------------------- reader loop side

    /// <summary>
    /// DATA arrived (reader loop). Returns true when it ended a waiting read: the caller then runs
    /// <see cref="CompleteRead"/> (inline) or <see cref="DispatchRead"/>. <paramref name="credit"/> is a WINDOW_UPDATE
    /// increment the caller must send. Throws <see cref="ProtocolException"/> for window or state violations.
    /// </summary>
    internal bool OnData(in ReadOnlySequence<byte> payload, bool fin, out uint credit)
    {
        credit = 0;
        var length = payload.Length;
        bool readEnded;
        bool closed;
        lock (_lock)
        {
            if (_state is StreamState.HalfClosedRemote || (_state == StreamState.Closed && _resetCode is null))
            {
                throw new ProtocolException(ErrorCode.ProtocolError, $"DATA on stream {Id} after its FIN");
            }
            _window.OnReceived(length, Id);
            if (_state == StreamState.Closed || _readError is not null)
            {
                return false; // reset or released locally: late data is dropped (§5.3)
            }
            readEnded = false;
            if (length > 0)
            {
                if (_receiver.WaiterWantsBytes)
                {
                    // The reader waits with its buffer: copy straight into it, buffer only what does not fit.
                    var taken = _receiver.FillWaiter(payload);
                    if (taken < length)
                    {
                        _receiver.Append(payload.Slice(taken));
                    }
                    readEnded = true;
                    if (!fin)
                    {
                        credit = _window.OnConsumed(taken, _session);
                    }
                }
                else if (_receiver.TryExtend(payload) is > 0 and var extended)
                {
                    // Same batch, same read, not yet handed back: it takes this frame too (as far as its buffer goes).
                    if (extended < length)
                    {
                        _receiver.Append(payload.Slice(extended));
                    }
                    readEnded = true;
                    if (!fin)
                    {
                        credit = _window.OnConsumed(extended, _session);
                    }
                }
                else
                {
                    _receiver.Append(payload);
                }
            }
            if (fin)
            {
                _state = StreamStates.FinReceived(_state);
            }
            if (_receiver.IsWaiting && (_receiver.Buffered > 0 || fin))
            {
                _receiver.EndWait(0, null); // a zero-byte read learns that data (or the end) is there
                readEnded = true;
            }
            closed = _state == StreamState.Closed;
        }
        if (closed)
        {
            OnClosed();
        }
        return readEnded;
    }

    /// <summary>Runs the continuation of the read that <see cref="OnData"/> ended, on this thread (the session's reader loop).</summary>
    internal void CompleteRead()
    {
        t_onReaderLoop = true;
        try
        {
            _receiver.Complete();
        }
        finally
        {
            t_onReaderLoop = false;
        }
    }

    /// <summary>Runs the continuation of the read that <see cref="OnData"/> ended on the thread pool.</summary>
    internal void DispatchRead()
    {
        _receiver.StopExtending(); // before the pool may start the continuation
        ThreadPool.UnsafeQueueUserWorkItem(_receiver, preferLocal: false);
    }

    /// <summary>WINDOW_UPDATE arrived (reader loop).</summary>
    internal void OnWindowUpdate(uint increment)
    {
        lock (_lock)
        {
            _sender.AddWindow(increment, Id);
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
    internal void OnReset(ErrorCode code) => Reset(code, byPeer: true);

    /// <summary>The session ended; fail everything that waits. The session forgets the stream itself.</summary>
    internal void OnSessionClosed(SessionClosedException error)
    {
        bool readEnded;
        lock (_lock)
        {
            if (_state == StreamState.Closed)
            {
                return;
            }
            // What the peer sent up to its FIN stays readable: the stream ended cleanly before the session did.
            var complete = !StreamStates.PeerSending(_state);
            _resetCode ??= error.Code == ErrorCode.NoError ? ErrorCode.Cancel : error.Code;
            _state = StreamState.Closed;
            _sender.Complete(error);
            readEnded = !complete && DiscardInboundUnsynchronized(error);
        }
        if (readEnded)
        {
            DispatchRead();
        }
        _accepted?.TrySetException(error);
        CancelAborted();
    }

    private void Reset(ErrorCode code, bool byPeer)
    {
        bool sendReset;
        bool readEnded;
        lock (_lock)
        {
            if (_resetCode is not null || _state == StreamState.Closed)
            {
                return;
            }
            // The OPEN never left (the writer skips closed streams): the peer has not heard of this id, and an RST for
            // it would be a frame for a never-opened stream, a PROTOCOL_ERROR there (§5.3). Send nothing.
            sendReset = !byPeer && _state != StreamState.Idle;
            _resetCode = code;
            _resetByPeer = byPeer;
            _state = StreamState.Closed;
            var error = new StreamAbortedException(code, byPeer);
            _sender.Complete(error);
            // A reset stream frees its data; late frames are dropped by the session (§5.3).
            readEnded = DiscardInboundUnsynchronized(error);
        }
        if (readEnded)
        {
            DispatchRead();
        }
        _accepted?.TrySetException(new StreamAbortedException(code, byPeer));
        CancelAborted();
        if (sendReset)
        {
            _session.EnqueueReset(Id, code);
        }
        OnClosed();
    }

    /// <summary>
    /// Under the lock: what is buffered can no longer be read (reset, released, session closed), so its blocks go back
    /// to the pool now, and reads fail with <paramref name="reason"/> from now on. Returns true when this ended a
    /// waiting read, which the caller completes outside the lock.
    /// </summary>
    private bool DiscardInboundUnsynchronized(Exception reason)
    {
        _readError ??= reason;
        _receiver.Discard();
        if (_receiver.IsWaiting)
        {
            _receiver.EndWait(0, reason);
            return true;
        }
        return false;
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

    // ---------------------------------------------------------------- credit and closing

    /// <summary>Under the lock: the application consumed <paramref name="count"/> bytes; returns credit to send, or 0.</summary>
    private uint ConsumedUnsynchronized(int count) =>
        count > 0 && StreamStates.PeerSending(_state) ? _window.OnConsumed(count, _session) : 0;

    /// <summary>The stream reached <see cref="StreamState.Closed"/>: it leaves the session's table (the session ignores repeats).</summary>
    private void OnClosed()
    {
        long growth;
        lock (_lock)
        {
            growth = _window.TakeGrowth();
        }
        _session.OnStreamClosed(this, growth);
    }

    private static void ThrowIfOnReaderLoop()
    {
        if (t_onReaderLoop)
        {
            throw new InvalidOperationException("a blocking read or write on a multiplexed stream from a continuation that runs on the session's reader loop would wait for that loop; use ReadAsync/WriteAsync");
        }
    }

    public override string ToString() => $"stream {Id} ({(IsLocal ? "local" : "remote")})";
}
