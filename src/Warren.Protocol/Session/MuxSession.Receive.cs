using System.Buffers;
using System.Buffers.Binary;
using System.Text;
using Warren.Protocol.Framing;
using Warren.Protocol.Streams;

namespace Warren.Protocol.Session;

public sealed partial class MuxSession
{
    /// <summary>
    /// The reader loop: parse every whole frame in what has arrived, dispatch it, then ask for more. It never waits
    /// on a stream (DATA lands in the stream's own buffer, bounded by its window), so a stalled consumer cannot stall
    /// the session.
    /// </summary>
    private async Task ReadLoopAsync()
    {
        await Task.Yield(); // leave StartAsync's caller at once
        var input = _transport.Input;
        var limits = new FrameLimits(ProtocolVersion, Options.MaxFramePayload, Options.MaxOpenMetadata);
        try
        {
            while (true)
            {
                var result = await input.ReadAsync().ConfigureAwait(false);
                if (result.IsCanceled || _closeInfo is not null && _writerExit)
                {
                    break;
                }
                Volatile.Write(ref _lastReceived, TimeProvider.GetTimestamp());
                var buffer = result.Buffer;
                try
                {
                    while (FrameReader.TryReadFrame(ref buffer, limits, out var header, out var payload))
                    {
                        Counters._framesReceived++;
                        ProcessFrame(header, payload);
                    }
                }
                finally
                {
                    input.AdvanceTo(buffer.Start, buffer.End);
                }
                if (result.IsCompleted)
                {
                    OnTransportEnded(buffer.IsEmpty ? "the peer closed the connection" : "the connection ended inside a frame", cleanEnd: buffer.IsEmpty);
                    break;
                }
            }
        }
        catch (ProtocolException ex)
        {
            Log.ProtocolViolation(_logger, Name, ex.Code, ex.Message);
            Close(new SessionCloseInfo(ex.Code, ByPeer: false, ex.Message), CloseMode.SendGoAway);
        }
        catch (Exception ex)
        {
            Close(new SessionCloseInfo(ErrorCode.ConnectionLost, ByPeer: false, "read failed: " + ex.Message), CloseMode.Immediate);
        }
        finally
        {
            await input.CompleteAsync().ConfigureAwait(false);
        }
    }

    private void ProcessFrame(in FrameHeader header, in ReadOnlySequence<byte> payload)
    {
        switch (header.Type)
        {
            case FrameType.Data:
                OnDataFrame(header, payload);
                break;
            case FrameType.WindowUpdate:
                {
                    var increment = ReadUInt32(payload);
                    if (increment == 0 || increment > int.MaxValue)
                    {
                        throw new ProtocolException(ErrorCode.ProtocolError, $"WINDOW_UPDATE on stream {header.StreamId} with increment {increment}");
                    }
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
                    var code = (ErrorCode)ReadUInt32(payload);
                    if (Lookup(header.StreamId, header.Type) is { } stream)
                    {
                        if (!stream.IsLocal && !stream.WasAccepted)
                        {
                            CountAbuse("reset of a stream before it was accepted");
                        }
                        stream.OnReset(code);
                    }
                    break;
                }
            case FrameType.Ping:
                {
                    var opaque = ReadUInt64(payload);
                    if (header.HasFlag(FrameFlags.Ack))
                    {
                        OnPingAck(opaque);
                    }
                    else
                    {
                        EnqueueReply(new ControlFrame(FrameType.Ping, 0, opaque, Ack: true));
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

    private void OnDataFrame(in FrameHeader header, in ReadOnlySequence<byte> payload)
    {
        var fin = header.HasFlag(FrameFlags.Fin);
        if (payload.IsEmpty && !fin)
        {
            CountAbuse("empty DATA frame");
        }
        Counters._bytesReceived += payload.Length;
        // A stream we reset or finished may still receive what the peer sent before it knew: dropped (§5.3).
        Lookup(header.StreamId, header.Type)?.OnData(payload, fin);
    }

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
                _streams[id] = stream;
                _peerActive++;
            }
        }
        if (stream is not null && !_accepts.Writer.TryWrite(stream))
        {
            refusal = $"the accept backlog of {Options.AcceptBacklog} is full";
            _streams.TryRemove(id, out _);
            lock (_stateLock)
            {
                _peerActive--;
            }
            stream = null;
        }
        if (stream is null)
        {
            Interlocked.Increment(ref Counters._streamsRefused);
            Log.StreamRefused(_logger, Name, id, refusal!);
            EnqueueReply(new ControlFrame(FrameType.Reset, id, (ulong)ErrorCode.RefusedStream));
            CountAbuse("refused open");
            return;
        }
        Interlocked.Increment(ref Counters._streamsAccepted);
        if (header.HasFlag(FrameFlags.Fin))
        {
            stream.OnData(ReadOnlySequence<byte>.Empty, fin: true);
        }
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

    /// <summary>Counts one suspicious event; past the budget within the window the peer is cut off (ENHANCE_YOUR_CALM).</summary>
    private void CountAbuse(string what)
    {
        var now = TimeProvider.GetTimestamp();
        if (_abuseWindowStart == 0 || TimeProvider.GetElapsedTime(_abuseWindowStart, now) > Options.AbuseWindow)
        {
            _abuseWindowStart = now;
            _abuseCount = 0;
        }
        if (++_abuseCount > Options.AbuseBudget)
        {
            throw new ProtocolException(ErrorCode.EnhanceYourCalm, $"abuse budget exceeded: over {Options.AbuseBudget} events ({what}) within {Options.AbuseWindow.TotalSeconds:0.#} s");
        }
    }

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
