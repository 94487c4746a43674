using System.Buffers;
using System.IO.Pipelines;
using System.Buffers.Binary;
using System.Text;
using Warren.Protocol.Framing;
using Warren.Protocol.Streams;
using Warren.Protocol.Transport;

namespace Warren.Protocol.Session;

public sealed partial class MuxSession
{
    /// <summary>
    /// The reader loop: parse every whole frame in what has arrived, dispatch it, then ask for more. It never waits
    /// on a stream (DATA lands in the stream's own buffer, bounded by its window), so a stalled consumer cannot stall
    /// the session.
    /// <para>
    /// DATA for a read that waits is copied straight into the reader's buffer, and the read completes. The last such
    /// read of a batch runs its continuation right here, once the batch is parsed (as Kestrel's inline scheduling and
    /// StackExchange.Redis's reader do): for one request at a time that spares a thread hop per frame, the largest part
    /// of a tunnel's latency. Reads ended earlier in the batch go to the thread pool, so under load the work of many
    /// streams still spreads over every core, and the loop reads on as soon as that continuation awaits again.
    /// </para>
    /// </summary>
    private async Task ReadLoopAsync()
    {
        await Task.Yield(); // leave StartAsync's caller at once
        var input = _transport.Input;
        var hint = _transport as IInputHint;
        var limits = new FrameLimits(ProtocolVersion, Options.MaxFramePayload, Options.MaxOpenMetadata);
        MuxStream? held = null; // an ended read kept for the next batch's DATA (see MaxHolds)
        var holds = 0;
        try
        {
            while (true)
            {
                var result = await input.ReadAsync().ConfigureAwait(false);
                if (result.IsCanceled)
                {
                    break;
                }
                var buffer = result.Buffer;
                if (held is not null && (IsClosed || !StartsWithDataFor(buffer, limits, held)))
                {
                    held.DispatchRead(); // the burst for it is over, and more input is in hand: the pool runs it
                    held = null;
                }
                if (IsClosed)
                {
                    // Closing: drain what the peer still sends, unprocessed, so it reads our GOAWAY before the
                    // connection goes (OnWriterEnded bounds how long).
                    input.AdvanceTo(buffer.End);
                    if (result.IsCompleted)
                    {
                        break;
                    }
                    continue;
                }
                _keepAlive.OnReceived();
                var inline = held;
                held = null;
                try
                {
                    while (FrameReader.TryReadFrame(ref buffer, limits, out var header, out var payload))
                    {
                        Counters._framesReceived++;
                        if (header.Type == FrameType.Data)
                        {
                            if (OnDataFrame(header, payload) is { } ended)
                            {
                                // Only the batch's last ended read runs here; the one before it goes to the pool now.
                                if (inline is not null && inline != ended)
                                {
                                    inline.DispatchRead();
                                }
                                inline = ended;
                            }
                        }
                        else
                        {
                            ProcessFrame(header, payload);
                        }
                    }
                }
                catch
                {
                    inline?.DispatchRead(); // its read already ended: it must not wait forever
                    throw;
                }
                finally
                {
                    input.AdvanceTo(buffer.Start, buffer.End);
                }
                if (inline is not null)
                {
                    if (!result.IsCompleted && holds < MaxHolds && hint is { MoreInputReady: true })
                    {
                        held = inline;
                        holds++;
                    }
                    else if (!result.IsCompleted && hint is { MoreInputReady: true })
                    {
                        // More is read ahead already: keep the link drained and let the pool run this continuation
                        // (on the other cores), rather than fall behind the peer (docs/performance.md, "Bodies").
                        holds = 0;
                        inline.DispatchRead();
                    }
                    else
                    {
                        holds = 0;
                        CompleteInline(inline);
                    }
                }
                // WINDOW_UPDATEs and other replies this batch queued: written here, not by waking the writer loop
                // (the continuation above may have written them already, with its own frames).
                _writer.WriteQueuedInline();
                if (result.IsCompleted)
                {
                    OnTransportEnded(buffer.IsEmpty ? "the peer closed the connection" : "the connection ended inside a frame", cleanEnd: buffer.IsEmpty);
                    break;
                }
            }
        }
        catch (ProtocolException ex)
        {
            held?.DispatchRead(); // now: the drain below may take a while
            held = null;
            Log.ProtocolViolation(_logger, Name, ex.Code, ex.Message);
            Close(new SessionCloseInfo(ex.Code, ByPeer: false, ex.Message), CloseMode.SendGoAway);
            await DrainAfterViolationAsync(input).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            Close(new SessionCloseInfo(ErrorCode.ConnectionLost, ByPeer: false, "read failed: " + ex.Message), CloseMode.Immediate);
        }
        finally
        {
            held?.DispatchRead(); // a clean end (canceled, or the transport ended) with a read still held
            await input.CompleteAsync().ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Batches an ended read may be held across before its continuation runs: under TLS each batch is one 16 KiB
    /// record, so a read with a 64 KiB buffer takes four records' DATA in one go instead of four reads, four copies into
    /// the next socket and four sends there (docs/performance.md, "Bodies"). A read whose buffer is full already (the
    /// 4 KiB one HttpClient reads a response head with) is held too: the DATA behind it is buffered meanwhile, and the
    /// reader's next read takes all of it at once. Only while the transport says the next batch is already here, so a
    /// read is never held waiting for the network.
    /// </summary>
    private const int MaxHolds = 8;

    /// <summary>Whether the batch's first frame is DATA for <paramref name="stream"/> (so its held read may take it).</summary>
    private static bool StartsWithDataFor(ReadOnlySequence<byte> buffer, FrameLimits limits, MuxStream stream)
    {
        try
        {
            return FrameReader.TryReadFrame(ref buffer, limits, out var header, out _) && header.Type == FrameType.Data && header.StreamId == stream.Id;
        }
        catch (ProtocolException)
        {
            return false; // the loop below meets it again and says why
        }
    }

    /// <summary>Runs a stream's read continuation on this loop; its failure is the application's, never the session's.</summary>
    private void CompleteInline(MuxStream stream)
    {
        try
        {
            stream.CompleteRead();
        }
        catch (Exception ex)
        {
            Log.ContinuationFailed(_logger, Name, stream.Id, ex);
        }
    }

    /// <summary>
    /// After a violation the GOAWAY saying why is on its way: keep reading (and discarding) until the peer hangs up or
    /// the linger after our output ended runs out, so the connection is not reset under the GOAWAY.
    /// </summary>
    private static async Task DrainAfterViolationAsync(PipeReader input)
    {
        try
        {
            while (true)
            {
                var result = await input.ReadAsync().ConfigureAwait(false);
                input.AdvanceTo(result.Buffer.End);
                if (result.IsCanceled || result.IsCompleted)
                {
                    return;
                }
            }
        }
        catch (Exception)
        {
            // The transport is gone: nothing left to drain.
        }
    }

    private void ProcessFrame(in FrameHeader header, in ReadOnlySequence<byte> payload)
    {
        switch (header.Type)
        {
            case FrameType.WindowUpdate:
                {
                    var increment = ReadUInt32(payload);
                    if (increment == 0 || increment > int.MaxValue)
                    {
                        throw new ProtocolException(ErrorCode.ProtocolError, $"WINDOW_UPDATE on stream {header.StreamId} with increment {increment}");
                    }
                    if (increment < MinWindowUpdate)
                    {
                        // A correct peer returns credit in halves of a window of at least 16 KiB (§6.1): a trickle of
                        // tiny updates only makes us parse frames.
                        _abuse.Count("WINDOW_UPDATE below 1 KiB");
                    }
                    // One for a stream that just closed is the ordinary race with our FIN or RST: ignored (§5.3).
                    if (Lookup(header.StreamId, header.Type) is { } stream)
                    {
                        stream.OnWindowUpdate(increment);
                    }
                    break;
                }
            case FrameType.Open:
                OnOpenFrame(header, payload);
                break;
            case FrameType.Accept:
                Lookup(header.StreamId, header.Type)?.OnAccepted();
                break;
            case FrameType.Reset:
                {
                    // A reset is how a peer gives up on a stream, accepted or not (a client went away): never abuse.
                    // Rapid reset is bounded instead by counting a reset stream until our application lets go of it.
                    var code = (ErrorCode)ReadUInt32(payload);
                    Lookup(header.StreamId, header.Type)?.OnReset(code);
                    break;
                }
            case FrameType.Ping:
                {
                    var opaque = ReadUInt64(payload);
                    if (header.HasFlag(FrameFlags.Ack))
                    {
                        _keepAlive.OnPingAck(opaque);
                    }
                    else
                    {
                        _writer.EnqueueReply(new ControlFrame(FrameType.Ping, 0, opaque, Ack: true));
                    }
                    break;
                }
            case FrameType.GoAway:
                OnGoAwayFrame(payload);
                break;
            case FrameType.Hello:
                throw new ProtocolException(ErrorCode.ProtocolError, "duplicate HELLO");
            default:
                throw new ProtocolException(ErrorCode.ProtocolError, $"unknown frame type 0x{(byte)header.Type:x2}");
        }
    }

    /// <summary>Dispatches DATA; returns the stream whose waiting read it ended (to complete after the batch), or null.</summary>
    private MuxStream? OnDataFrame(in FrameHeader header, in ReadOnlySequence<byte> payload)
    {
        var fin = header.HasFlag(FrameFlags.Fin);
        if (payload.IsEmpty && !fin)
        {
            _abuse.Count("empty DATA frame");
        }
        Counters._bytesReceived += payload.Length;
        // A stream we reset or finished may still receive what the peer sent before it knew: dropped (§5.3).
        if (Lookup(header.StreamId, header.Type) is not { } stream)
        {
            return null;
        }
        var ended = stream.OnData(payload, fin, out var credit);
        if (credit > 0)
        {
            _writer.EnqueueControl(new ControlFrame(FrameType.WindowUpdate, stream.Id, credit), wake: false); // written at the batch's end
        }
        return ended ? stream : null;
    }

    /// <summary>Smallest WINDOW_UPDATE a correct peer sends: half of the smallest window (§6.1), with a wide margin.</summary>
    private const uint MinWindowUpdate = 1024;

    private void OnOpenFrame(in FrameHeader header, in ReadOnlySequence<byte> payload)
    {
        var id = header.StreamId;
        if (!IsPeerId(id))
        {
            throw new ProtocolException(ErrorCode.ProtocolError, $"OPEN of stream {id}, whose parity belongs to this side");
        }
        if (id <= _lastPeerId)
        {
            throw new ProtocolException(ErrorCode.ProtocolError, $"OPEN of stream {id}, not above the last opened id {_lastPeerId}");
        }
        Volatile.Write(ref _lastPeerId, id);

        string? refusal = null;
        MuxStream? stream = null;
        lock (_stateLock)
        {
            if (_localGoAway || _closeInfo is not null)
            {
                refusal = "going away";
            }
            else if (_refuseIncoming)
            {
                refusal = "this side accepts no streams";
            }
            else if (_peerActive >= Options.MaxConcurrentStreams)
            {
                refusal = $"the limit of {Options.MaxConcurrentStreams} concurrent streams is reached";
            }
            else
            {
                stream = new MuxStream(this, id, isLocal: false, payload.ToArray(), PeerSettings.InitialStreamWindow, _localSettings.InitialStreamWindow);
                Track(id, stream);
                _peerActive++;
            }
        }
        if (stream is not null && header.HasFlag(FrameFlags.Fin))
        {
            // Before the application can see the stream: a read it starts at once must find the FIN, not wait for
            // one whose wake-up nobody would deliver (it hung a stream, found by the fuzz corpus's replay).
            stream.OnData(ReadOnlySequence<byte>.Empty, fin: true, out _);
        }
        if (stream is not null && !_accepts.Writer.TryWrite(stream))
        {
            refusal = $"the accept backlog of {Options.AcceptBacklog} is full";
            Untrack(id, stream);
            lock (_stateLock)
            {
                _peerActive--;
            }
            stream = null;
        }
        if (stream is null)
        {
            Log.StreamRefused(_logger, Name, id, refusal!);
            _writer.EnqueueReply(new ControlFrame(FrameType.Reset, id, (ulong)ErrorCode.RefusedStream));
            // Counted once the RST is queued: a drain that closes the session from here on still writes it, so whoever
            // sees the count (a test, the console) can rely on the refusal reaching the peer.
            Interlocked.Increment(ref Counters._streamsRefused);
            _abuse.Count("refused open");
            return;
        }
        Interlocked.Increment(ref Counters._streamsAccepted);
    }

    private void OnGoAwayFrame(in ReadOnlySequence<byte> payload)
    {
        Span<byte> fixedPart = stackalloc byte[8];
        payload.Slice(0, 8).CopyTo(fixedPart);
        var lastId = BinaryPrimitives.ReadUInt32BigEndian(fixedPart);
        var code = (ErrorCode)BinaryPrimitives.ReadUInt32BigEndian(fixedPart[4..]);
        var reason = Encoding.UTF8.GetString(payload.Slice(8));
        if (code != ErrorCode.NoError)
        {
            Close(new SessionCloseInfo(code, ByPeer: true, reason), CloseMode.Graceful);
            return;
        }
        lock (_stateLock)
        {
            _remoteGoAway = true;
        }
        Log.PeerGoingAway(_logger, Name, reason);
        _goingAway.Cancel();
        // Streams we opened above lastId were never processed: fail them as refused, so callers may retry elsewhere.
        foreach (var stream in _streams.Values)
        {
            if (stream.IsLocal && stream.Id > lastId)
            {
                stream.OnReset(ErrorCode.RefusedStream);
            }
        }
        CheckDrained();
    }

    /// <summary>
    /// Finds the stream a frame is for. Frames for streams that existed and are gone are ignored (null); frames
    /// for ids never opened are a PROTOCOL_ERROR (docs/protocol.md §5.3).
    /// </summary>
    private MuxStream? Lookup(uint id, FrameType type)
    {
        if (_streams.TryGetValue(id, out var stream))
        {
            return stream;
        }
        var opened = IsPeerId(id) ? id <= _lastPeerId : id <= Volatile.Read(ref _lastLocalId) && id != 0;
        if (!opened)
        {
            throw new ProtocolException(ErrorCode.ProtocolError, $"{type} for stream {id}, which was never opened");
        }
        return null;
    }

    private bool IsPeerId(uint id) => (id & 1) == (Role == SessionRole.Server ? 1u : 0u);

    private static uint ReadUInt32(in ReadOnlySequence<byte> payload)
    {
        Span<byte> bytes = stackalloc byte[4];
        payload.CopyTo(bytes);
        return BinaryPrimitives.ReadUInt32BigEndian(bytes);
    }

    private static ulong ReadUInt64(in ReadOnlySequence<byte> payload)
    {
        Span<byte> bytes = stackalloc byte[8];
        payload.CopyTo(bytes);
        return BinaryPrimitives.ReadUInt64BigEndian(bytes);
    }
}
