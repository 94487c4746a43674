using System.Buffers;
using System.Collections.Concurrent;
using System.IO.Pipelines;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Warren.Protocol.Buffers;
using Warren.Protocol.Framing;
using Warren.Protocol.Streams;

namespace Warren.Protocol.Session;

/// <summary>
/// One multiplexed session over a duplex byte transport (TLS over TCP, a WebSocket, an in-memory pipe).
/// <para>
/// Two loops own the transport: the reader (MuxSession.Receive.cs) parses frames and dispatches them without ever
/// blocking on a stream; the <see cref="SessionWriter"/> is the single writer. <see cref="KeepAlive"/> watches the
/// peer's liveness and the RTT, <see cref="AbuseBudget"/> what a hostile peer does. Streams reach the session only
/// through <see cref="IStreamSession"/>.
/// </para>
/// See docs/protocol.md for the wire format and docs/architecture.md for where the session sits.
/// </summary>
public sealed partial class MuxSession : IAsyncDisposable, IStreamSession
{
    internal const byte ProtocolVersion = FrameWriter.Version1;

    /// <summary>How long the reader keeps draining the peer's bytes after our output ended, so the peer reads our last frames (a GOAWAY saying why) before we close.</summary>
    private static readonly TimeSpan CloseLinger = TimeSpan.FromSeconds(1);

    private readonly IDuplexPipe _transport;
    private readonly Action? _abortTransport;
    private readonly ILogger _logger;
    private readonly ConcurrentDictionary<uint, MuxStream> _streams = new();

    /// <summary>
    /// How many streams <see cref="_streams"/> holds, kept beside it (<see cref="Track"/>, <see cref="Untrack"/>):
    /// the edge reads it per request to pick the least loaded of a service's sessions, and
    /// ConcurrentDictionary.Count takes every one of the table's locks.
    /// </summary>
    private int _streamCount;
    private readonly Channel<MuxStream> _accepts;
    private readonly SemaphoreSlim _pendingOpens;
    private readonly ConcurrentQueue<(long Deadline, MuxStream Stream)> _openDeadlines = new();
    private readonly Lock _stateLock = new();
    private readonly TaskCompletionSource<SessionCloseInfo> _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource _lifetime = new();
    private readonly CancellationTokenSource _goingAway = new();
    private readonly SessionSettings _localSettings;
    private readonly SessionWriter _writer;
    private readonly KeepAlive _keepAlive;
    private readonly AbuseBudget _abuse;

    // Guarded by _stateLock.
    private uint _nextLocalId;
    private uint _lastLocalId;
    private int _localActive;
    private int _peerActive;          // peer-opened streams not yet both closed and released by the application
    private bool _localGoAway;
    private bool _remoteGoAway;
    private bool _refuseIncoming;
    private SessionCloseInfo? _closeInfo;

    // Reader loop only.
    private uint _lastPeerId;

    private long _growthReserved;
    private ITimer? _timer;
    private Task _readLoop = Task.CompletedTask;
    private Task _writeLoop = Task.CompletedTask;

    private MuxSession(IDuplexPipe transport, SessionRole role, SessionOptions options, ILogger? logger, Action? abortTransport, string name)
    {
        _transport = transport;
        _abortTransport = abortTransport;
        _logger = logger ?? NullLogger.Instance;
        Role = role;
        Options = options;
        Name = name;
        _localSettings = options.ToSettings();
        PeerSettings = SessionSettings.ProtocolDefaults;
        _nextLocalId = role == SessionRole.Client ? 1u : 2u;
        _accepts = Channel.CreateBounded<MuxStream>(new BoundedChannelOptions(options.AcceptBacklog)
        {
            SingleWriter = true,
            FullMode = BoundedChannelFullMode.Wait,
        });
        _pendingOpens = new SemaphoreSlim(options.MaxPendingOpens, options.MaxPendingOpens);
        _writer = new SessionWriter(this, transport.Output);
        _keepAlive = new KeepAlive(options.TimeProvider);
        _abuse = new AbuseBudget(options.AbuseBudget, options.AbuseWindow, options.TimeProvider);
    }

    /// <summary>Which end of the transport this side is.</summary>
    public SessionRole Role { get; }

    /// <summary>A label for logs and metrics (e.g. the agent's name and address).</summary>
    public string Name { get; }

    public SessionOptions Options { get; }

    /// <summary>What the peer announced in its HELLO.</summary>
    public SessionSettings PeerSettings { get; private set; }

    public SessionCounters Counters { get; } = new();

    internal TimeProvider TimeProvider => Options.TimeProvider;

    /// <summary>Smoothed round-trip time from PINGs; zero until the first reply.</summary>
    public TimeSpan SmoothedRtt => _keepAlive.SmoothedRtt;

    /// <summary>Streams in the session's table (open in at least one direction).</summary>
    public int StreamCount => Math.Max(0, Volatile.Read(ref _streamCount)); // a remove can run just before its add's count

    /// <summary>Frames waiting for the writer (control frames plus ready streams).</summary>
    public int WriteQueueDepth => _writer.QueueDepth;

    /// <summary>The writer loop took a wake-up while a producer wrote inline, and waits for that producer to pass one on (tests).</summary>
    internal bool WriterLoopWaitsForGate => _writer.LoopWaitsForGate;

    /// <summary>Completes, never faulted, once the session has ended; says why.</summary>
    public Task<SessionCloseInfo> Completion => _completion.Task;

    /// <summary>Cancelled when the session starts closing.</summary>
    public CancellationToken Closing => _lifetime.Token;

    /// <summary>
    /// Cancelled when GOAWAY is sent or received, or the session closes: long-lived streams (the tunnel's control
    /// stream) end themselves then, so a drain is not held up by streams that never finish on their own.
    /// </summary>
    public CancellationToken GoingAway => _goingAway.Token;

    /// <summary>True once GOAWAY was sent or received or the session closed: no new streams.</summary>
    public bool IsGoingAway
    {
        get
        {
            lock (_stateLock)
            {
                return _localGoAway || _remoteGoAway || _closeInfo is not null;
            }
        }
    }

    internal bool IsClosed => Volatile.Read(ref _closeInfo) is not null;

    /// <summary>
    /// Exchanges HELLO over <paramref name="transport"/> and starts the session. The caller keeps ownership of the
    /// transport's underlying connection and closes it after <see cref="Completion"/>; <paramref name="abortTransport"/>
    /// is called to tear it down when the session must end at once (dead peer, blocked writes).
    /// </summary>
    public static async Task<MuxSession> StartAsync(
        IDuplexPipe transport,
        SessionRole role,
        SessionOptions? options = null,
        ILogger? logger = null,
        Action? abortTransport = null,
        string? name = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(transport);
        options ??= new SessionOptions();
        options.Validate();
        var session = new MuxSession(transport, role, options, logger, abortTransport, name ?? role.ToString().ToLowerInvariant());
        await session.HandshakeAsync(cancellationToken).ConfigureAwait(false);
        session.Run();
        return session;
    }

    private async Task HandshakeAsync(CancellationToken cancellationToken)
    {
        FrameWriter.WriteHello(_transport.Output, new Hello(ProtocolVersion, ProtocolVersion, _localSettings));
        using var timeout = new CancellationTokenSource(Options.HandshakeTimeout, TimeProvider);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(timeout.Token, cancellationToken);
        try
        {
            await _transport.Output.FlushAsync(linked.Token).ConfigureAwait(false);
            var limits = new FrameLimits(ProtocolVersion, Hello.MaxPayloadLength, 0);
            var headerBytes = new byte[FrameHeader.Size];
            while (true)
            {
                var result = await _transport.Input.ReadAsync(linked.Token).ConfigureAwait(false);
                var buffer = result.Buffer;
                if (buffer.Length >= FrameHeader.Size)
                {
                    buffer.Slice(0, FrameHeader.Size).CopyTo(headerBytes);
                    var first = FrameHeader.Read(headerBytes);
                    if (first.Type != FrameType.Hello || first.StreamId != 0)
                    {
                        throw new ProtocolException(ErrorCode.ProtocolError, $"expected HELLO as the first frame, got {first}");
                    }
                }
                if (FrameReader.TryReadFrame(ref buffer, limits, out _, out var payload))
                {
                    var hello = Hello.Parse(payload.IsSingleSegment ? payload.FirstSpan : payload.ToArray());
                    _transport.Input.AdvanceTo(buffer.Start);
                    if (hello.MinVersion > ProtocolVersion || hello.MaxVersion < ProtocolVersion)
                    {
                        throw new ProtocolException(ErrorCode.UnsupportedVersion, $"peer speaks versions {hello.MinVersion}..{hello.MaxVersion}; this side speaks {ProtocolVersion}");
                    }
                    PeerSettings = hello.Settings;
                    return;
                }
                _transport.Input.AdvanceTo(buffer.Start, buffer.End);
                if (result.IsCompleted)
                {
                    throw new MuxException(ErrorCode.ConnectionLost, "the peer closed the connection during the handshake");
                }
            }
        }
        catch (ProtocolException ex)
        {
            // Tell the peer why, best effort, then fail the start.
            FrameWriter.WriteGoAway(_transport.Output, ProtocolVersion, 0, ex.Code, System.Text.Encoding.UTF8.GetBytes(ex.Message));
            _ = _transport.Output.FlushAsync(CancellationToken.None).AsTask();
            throw new MuxException(ex.Code, "handshake failed: " + ex.Message, ex);
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            throw new MuxException(ErrorCode.HandshakeTimeout, $"the peer did not complete the handshake within {Options.HandshakeTimeout.TotalSeconds:0.#} s");
        }
    }

    private void Run()
    {
        _keepAlive.OnReceived();
        _readLoop = ReadLoopAsync();
        _writeLoop = _writer.RunAsync();
        var tick = TimeSpan.FromTicks(Math.Clamp(
            Math.Min(Math.Min(Options.KeepAliveInterval.Ticks, Options.WriteTimeout.Ticks), Options.OpenTimeout.Ticks) / 4,
            TimeSpan.FromMilliseconds(20).Ticks,
            TimeSpan.FromSeconds(5).Ticks)); // defaults: every 2.5 s, so an idle session costs almost nothing
        _timer = TimeProvider.CreateTimer(static s => ((MuxSession)s!).OnTick(), this, tick, tick);
        SendPing(); // a first RTT sample, so window auto-tuning can start at once
        _ = Task.WhenAll(_readLoop, _writeLoop).ContinueWith(static (_, s) => ((MuxSession)s!).OnLoopsEnded(), this, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    // ---------------------------------------------------------------- streams

    /// <summary>
    /// Opens a stream carrying <paramref name="metadata"/> and waits for the peer to accept it (or refuse it with
    /// a reset, surfaced as <see cref="StreamAbortedException"/> with the peer's code). Waits for a free pending-open
    /// slot (<see cref="SessionOptions.MaxPendingOpens"/>) and for the ACCEPT each at most <see cref="SessionOptions.OpenTimeout"/>.
    /// </summary>
    public async ValueTask<MuxStream> OpenStreamAsync(ReadOnlyMemory<byte> metadata, CancellationToken cancellationToken = default)
    {
        if (metadata.Length > PeerSettings.MaxOpenMetadata)
        {
            throw new ArgumentException($"open metadata of {metadata.Length} bytes exceeds the peer's limit of {PeerSettings.MaxOpenMetadata}", nameof(metadata));
        }
        ThrowIfCannotOpen();
        if (!await _pendingOpens.WaitAsync(Options.OpenTimeout, cancellationToken).ConfigureAwait(false))
        {
            // Every pending-open slot stayed taken (the peer accepts slowly): refused before anything was sent, so safe to retry.
            throw new MuxException(ErrorCode.RefusedStream, $"{Options.MaxPendingOpens} opens waited for the peer's ACCEPT for {Options.OpenTimeout.TotalSeconds:0.#} s; no slot for another");
        }
        MuxStream? stream = null;
        try
        {
            lock (_stateLock)
            {
                ThrowIfCannotOpenUnsynchronized();
                if (_localActive >= PeerSettings.MaxConcurrentStreams)
                {
                    throw new MuxException(ErrorCode.RefusedStream, $"the peer's limit of {PeerSettings.MaxConcurrentStreams} concurrent streams is reached");
                }
                var id = _nextLocalId;
                if (id > int.MaxValue)
                {
                    throw new MuxException(ErrorCode.RefusedStream, "stream ids exhausted; open a new session");
                }
                _nextLocalId += 2;
                _lastLocalId = id;
                stream = new MuxStream(this, id, isLocal: true, metadata.ToArray(), PeerSettings.InitialStreamWindow, _localSettings.InitialStreamWindow);
                Track(id, stream);
                _localActive++;
                // Queue the OPEN while still holding the lock that allocated the id: OPENs must reach the wire in
                // increasing id order (the peer rejects a decreasing id, §3.1). Queued after the lock, two concurrent
                // opens could swap places and the peer would close the session with PROTOCOL_ERROR. Scheduling takes
                // no lock, so the lock order (§ MuxStream) is kept.
                _writer.Schedule(stream, wake: true);
            }
            Interlocked.Increment(ref Counters._streamsOpened);
            // The tick fails opens not accepted in time (no timer per open).
            _openDeadlines.Enqueue((TimeProvider.GetTimestamp() + (long)(Options.OpenTimeout.TotalSeconds * TimeProvider.TimestampFrequency), stream));
            await stream.AcceptedTask.WaitAsync(cancellationToken).ConfigureAwait(false);
            return stream;
        }
        catch
        {
            stream?.Abort(ErrorCode.Cancel);
            throw;
        }
        finally
        {
            _pendingOpens.Release();
        }
    }

    /// <summary>Waits for the next stream the peer opens. Call <see cref="MuxStream.Accept"/> or <see cref="MuxStream.Abort"/> on it, and dispose it when done.</summary>
    public async ValueTask<MuxStream> AcceptStreamAsync(CancellationToken cancellationToken = default)
    {
        try
        {
            return await _accepts.Reader.ReadAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (ChannelClosedException ex)
        {
            throw ex.InnerException as SessionClosedException ?? new SessionClosedException(ErrorCode.NoError, "session closed");
        }
    }

    /// <summary>
    /// From now on every stream the peer opens is refused by the session itself (RST REFUSED_STREAM), counted
    /// against the abuse budget like any refused open: the edge takes no stream from an agent after its control
    /// stream, and an agent that keeps opening is cut off with ENHANCE_YOUR_CALM instead of costing a stream each.
    /// </summary>
    public void RefuseIncomingStreams()
    {
        lock (_stateLock)
        {
            _refuseIncoming = true;
        }
        // Opens that arrived before this call and wait in the backlog are refused as well.
        while (_accepts.Reader.TryRead(out var stream))
        {
            stream.Abort(ErrorCode.RefusedStream);
            stream.Dispose();
        }
    }

    /// <summary>
    /// Undoes <see cref="RefuseIncomingStreams"/>: the peer may open streams again. The edge calls it once a
    /// <c>warren connect</c> client has authenticated (docs/protocol.md §10.4); what it opened before was refused.
    /// </summary>
    public void AcceptIncomingStreams()
    {
        lock (_stateLock)
        {
            _refuseIncoming = false;
        }
    }

    private void ThrowIfCannotOpen()
    {
        lock (_stateLock)
        {
            ThrowIfCannotOpenUnsynchronized();
        }
    }

    private void ThrowIfCannotOpenUnsynchronized()
    {
        if (_closeInfo is { } info)
        {
            throw new SessionClosedException(info.Code, info.Reason);
        }
        if (_localGoAway || _remoteGoAway)
        {
            throw new SessionClosedException(ErrorCode.NoError, "the session is going away; open the stream on another session");
        }
    }

    /// <summary>Fails opens whose ACCEPT did not come within the open timeout (from the tick; deadlines are in order).</summary>
    private void ExpireOpens(long now)
    {
        while (_openDeadlines.TryPeek(out var head) && head.Deadline <= now && _openDeadlines.TryDequeue(out head))
        {
            if (!head.Stream.AcceptedTask.IsCompleted)
            {
                head.Stream.OnOpenTimedOut(new MuxException(ErrorCode.Cancel, $"the peer did not accept the stream within {Options.OpenTimeout.TotalSeconds:0.#} s"));
            }
        }
    }

    // ---------------------------------------------------------------- IStreamSession

    BlockPool IStreamSession.BufferPool => Options.BufferPool;

    TimeProvider IStreamSession.TimeProvider => Options.TimeProvider;

    int IStreamSession.MaxStreamWindow => Options.MaxStreamWindow;

    long IStreamSession.TryReserveWindowGrowth(long bytes)
    {
        while (true)
        {
            var reserved = Volatile.Read(ref _growthReserved);
            var grant = Math.Min(bytes, Options.SessionWindowGrowthBudget - reserved);
            if (grant <= 0)
            {
                return 0;
            }
            if (Interlocked.CompareExchange(ref _growthReserved, reserved + grant, reserved) == reserved)
            {
                return grant;
            }
        }
    }

    void IStreamSession.Schedule(MuxStream stream, bool wake) => _writer.Schedule(stream, wake);

    void IStreamSession.TryWriteInline() => _writer.TryWriteInline();

    void IStreamSession.EnqueueReset(uint streamId, ErrorCode code) => _writer.EnqueueControl(new ControlFrame(FrameType.Reset, streamId, (ulong)code));

    void IStreamSession.EnqueueWindowUpdate(uint streamId, uint increment) => _writer.EnqueueControl(new ControlFrame(FrameType.WindowUpdate, streamId, increment));

    /// <summary>Puts a new stream in the table (ids are never reused within a session).</summary>
    private void Track(uint id, MuxStream stream)
    {
        if (_streams.TryAdd(id, stream))
        {
            Interlocked.Increment(ref _streamCount);
        }
    }

    /// <summary>Takes <paramref name="stream"/> out of the table; false when it was not there (forgotten already).</summary>
    private bool Untrack(uint id, MuxStream stream)
    {
        if (!_streams.TryRemove(new KeyValuePair<uint, MuxStream>(id, stream)))
        {
            return false;
        }
        Interlocked.Decrement(ref _streamCount);
        return true;
    }

    /// <summary>A stream finished both directions or was reset: forget it.</summary>
    void IStreamSession.OnStreamClosed(MuxStream stream, long growth)
    {
        if (!Untrack(stream.Id, stream))
        {
            return;
        }
        if (growth > 0)
        {
            Interlocked.Add(ref _growthReserved, -growth);
        }
        lock (_stateLock)
        {
            if (stream.IsLocal)
            {
                _localActive--;
            }
            else if (stream.Settle())
            {
                _peerActive--;
            }
        }
        CheckDrained();
    }

    /// <summary>
    /// A peer-opened stream counts against <see cref="SessionOptions.MaxConcurrentStreams"/> until it is closed
    /// <em>and</em> the application let go of it: a peer that opens and resets at once (CVE-2023-44487) cannot make
    /// this side carry more work than that limit, while a reset is never held against a correct peer.
    /// </summary>
    void IStreamSession.OnPeerStreamSettled()
    {
        lock (_stateLock)
        {
            _peerActive--;
        }
    }

    // ---------------------------------------------------------------- lifetime

    /// <summary>
    /// Starts a graceful drain: GOAWAY tells the peer to open no more streams; streams already open finish; the
    /// session closes when none is left.
    /// </summary>
    public void GoAway(string reason = "going away")
    {
        uint lastPeerId;
        lock (_stateLock)
        {
            if (_localGoAway || _closeInfo is not null)
            {
                return;
            }
            _localGoAway = true;
            lastPeerId = Volatile.Read(ref _lastPeerId);
            // Queued before the lock is let go: the reader refuses every OPEN from here on (OnOpenFrame), and those
            // refusals must reach the peer after the GOAWAY, so that it knows them for the drain's (never processed)
            // and opens them again on another session. Queued after, a refusal could overtake it.
            _writer.EnqueueGoAway(lastPeerId, ErrorCode.NoError, reason, final: false, wake: false);
        }
        _writer.Signal();
        Log.GoingAway(_logger, Name, reason);
        _goingAway.Cancel();
        CheckDrained();
    }

    /// <summary>Drains (see <see cref="GoAway"/>) and waits up to <paramref name="grace"/>; then closes whatever is left.</summary>
    public async Task<SessionCloseInfo> DrainAsync(TimeSpan grace, CancellationToken cancellationToken = default)
    {
        GoAway("draining");
        try
        {
            return await Completion.WaitAsync(grace, TimeProvider, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            Abort(ErrorCode.NoError, $"drain grace period of {grace.TotalSeconds:0.#} s ended");
            return await Completion.ConfigureAwait(false);
        }
    }

    /// <summary>Closes the session now: GOAWAY with <paramref name="code"/>, every stream fails.</summary>
    public void Abort(ErrorCode code, string reason) => Close(new SessionCloseInfo(code, ByPeer: false, reason), CloseMode.SendGoAway);

    public async ValueTask DisposeAsync()
    {
        Abort(ErrorCode.NoError, "disposed");
        await Completion.ConfigureAwait(false);
        // _lifetime, _goingAway and _pendingOpens are deliberately not disposed: they hold no timer or wait handle,
        // and GoAway, Close or OpenStreamAsync may still run on other threads (an edge draining while the agent
        // leaves) and must find them usable, not disposed.
    }

    private void CheckDrained()
    {
        bool drained;
        lock (_stateLock)
        {
            drained = (_localGoAway || _remoteGoAway) && _closeInfo is null && _streams.IsEmpty;
        }
        if (drained)
        {
            Close(new SessionCloseInfo(ErrorCode.NoError, ByPeer: false, "drained"), CloseMode.Graceful);
        }
    }

    private enum CloseMode
    {
        /// <summary>Write what is queued, then end the transport's output.</summary>
        Graceful,
        /// <summary>Send a final GOAWAY with the error, then end.</summary>
        SendGoAway,
        /// <summary>The transport is unusable: end at once.</summary>
        Immediate,
    }

    private void Close(SessionCloseInfo info, CloseMode mode)
    {
        lock (_stateLock)
        {
            if (_closeInfo is not null)
            {
                return;
            }
            _closeInfo = info;
        }
        if (info.Code is ErrorCode.NoError)
        {
            Log.SessionClosed(_logger, Name, info.ToString());
        }
        else
        {
            Log.SessionFailed(_logger, Name, info.ToString());
        }

        _lifetime.Cancel();
        _goingAway.Cancel();
        var error = new SessionClosedException(info.Code, info.Reason);
        foreach (var stream in _streams.Values)
        {
            stream.OnSessionClosed(error);
        }
        foreach (var (id, stream) in _streams)
        {
            Untrack(id, stream); // one at a time, not Clear(): the count stays the table's size
        }
        _accepts.Writer.TryComplete(error);

        switch (mode)
        {
            case CloseMode.SendGoAway when !info.ByPeer:
                _writer.EnqueueGoAway(Volatile.Read(ref _lastPeerId), info.Code, info.Reason, final: true);
                break;
            case CloseMode.Immediate:
                _writer.ExitNow();
                AbortTransport();
                break;
            default:
                _writer.ExitWhenIdle();
                break;
        }
        // Whatever happens to the transport, the loops end within the write timeout.
        TimeProvider.CreateTimer(static s => ((MuxSession)s!).ForceEnd(), this, Options.WriteTimeout, Timeout.InfiniteTimeSpan);
    }

    /// <summary>The writer failed to write or flush: the transport is gone.</summary>
    internal void OnWriteFailed(Exception ex) =>
        Close(new SessionCloseInfo(ErrorCode.ConnectionLost, ByPeer: false, "write failed: " + ex.Message), CloseMode.Immediate);

    /// <summary>
    /// The writer ended and completed the transport's output. Ending without a close means the peer stopped reading;
    /// either way the reader drains what the peer still sends for a moment, so the peer reads our last frames (a GOAWAY
    /// saying why) before the connection goes, instead of a reset that discards them.
    /// </summary>
    internal void OnWriterEnded()
    {
        if (!IsClosed)
        {
            OnTransportEnded("the peer stopped reading", cleanEnd: true);
        }
        TimeProvider.CreateTimer(static s => ((MuxSession)s!).CancelPendingRead(), this, CloseLinger, Timeout.InfiniteTimeSpan);
    }

    private void ForceEnd()
    {
        if (_completion.Task.IsCompleted)
        {
            return;
        }
        _writer.ExitNow();
        AbortTransport();
    }

    private void AbortTransport()
    {
        CancelPendingRead();
        try
        {
            _transport.Output.CancelPendingFlush();
        }
        catch (ObjectDisposedException)
        {
            // The writer loop already completed the output (a stream pipe then throws): nothing is pending.
        }
        try
        {
            _abortTransport?.Invoke();
        }
        catch (Exception ex)
        {
            Log.AbortFailed(_logger, Name, ex);
        }
    }

    /// <summary>
    /// Wakes the reader loop. Safe when the reader already completed the input: the force-end timer can fire in the
    /// moment between a loop completing its side and the session's completion (it crashed a test host this way).
    /// </summary>
    private void CancelPendingRead()
    {
        try
        {
            _transport.Input.CancelPendingRead();
        }
        catch (ObjectDisposedException)
        {
        }
    }

    private void OnLoopsEnded()
    {
        _timer?.Dispose();
        var info = _closeInfo ?? new SessionCloseInfo(ErrorCode.ConnectionLost, ByPeer: false, "the transport ended");
        _completion.TrySetResult(info);
    }

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

    // ---------------------------------------------------------------- keepalive

    private void OnTick()
    {
        if (IsClosed)
        {
            return;
        }
        var now = TimeProvider.GetTimestamp();
        var silent = _keepAlive.SilentFor(now);
        if (silent > Options.KeepAliveTimeout)
        {
            Log.KeepAliveTimeout(_logger, Name, silent.TotalSeconds);
            // The peer may still read; tell it why, but do not wait long for a wedged transport.
            Close(new SessionCloseInfo(ErrorCode.KeepAliveTimeout, ByPeer: false, $"nothing received from the peer for {silent.TotalSeconds:0.#} s"), CloseMode.SendGoAway);
            return;
        }
        var flushStarted = _writer.FlushStarted;
        if (flushStarted != 0 && TimeProvider.GetElapsedTime(flushStarted, now) > Options.WriteTimeout)
        {
            Log.WriteTimeout(_logger, Name, Options.WriteTimeout.TotalSeconds);
            Close(new SessionCloseInfo(ErrorCode.KeepAliveTimeout, ByPeer: false, $"a write to the transport blocked for over {Options.WriteTimeout.TotalSeconds:0.#} s"), CloseMode.Immediate);
            return;
        }
        if (_keepAlive.PingDue(now, Options.KeepAliveInterval))
        {
            SendPing();
        }
        ExpireOpens(now);
    }

    private void SendPing() => _writer.EnqueueControl(new ControlFrame(FrameType.Ping, 0, _keepAlive.StartPing()));
}
