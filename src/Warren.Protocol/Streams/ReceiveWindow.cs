using Warren.Protocol.Framing;

namespace Warren.Protocol.Streams;

/// <summary>
/// The receive side of one stream's flow control (docs/protocol.md §6): how much the peer may still send, and when
/// the bytes the application consumed go back to it as a WINDOW_UPDATE, grown when the window is the bottleneck
/// (§6.2). Guarded by the owning stream's lock.
/// </summary>
internal struct ReceiveWindow(int initialWindow, long now)
{
    private long _credit = initialWindow;    // bytes the peer may still send
    private long _consumedUnacked;           // bytes read by the application, not yet returned as credit
    private long _lastUpdate = now;          // timestamp of the last WINDOW_UPDATE, for auto-tuning

    public int Size { get; private set; } = initialWindow;

    /// <summary>Window growth taken from the session's budget; handed back when the stream closes.</summary>
    public long Growth { get; private set; }

    /// <summary>DATA of <paramref name="length"/> bytes arrived; more than the credit is a FLOW_CONTROL_ERROR.</summary>
    public void OnReceived(long length, uint streamId)
    {
        if (length > _credit)
        {
            throw new ProtocolException(ErrorCode.FlowControlError, $"DATA of {length} bytes on stream {streamId} exceeds its window of {_credit}");
        }
        _credit -= length;
    }

    /// <summary>
    /// The application consumed <paramref name="count"/> bytes. Returns the WINDOW_UPDATE increment to send now, or 0:
    /// credit is batched (as Kestrel and yamux do) and goes back once half the window has been consumed.
    /// </summary>
    public uint OnConsumed(int count, IStreamSession session)
    {
        _consumedUnacked += count;
        if (_consumedUnacked < Size / 2)
        {
            return 0;
        }
        var now = session.TimeProvider.GetTimestamp();
        var increment = (uint)(_consumedUnacked + AutoTune(now, session));
        _credit += increment;
        _consumedUnacked = 0;
        _lastUpdate = now;
        return increment;
    }

    /// <summary>Returns the stream's window growth to the session's budget (once).</summary>
    public long TakeGrowth()
    {
        var growth = Growth;
        Growth = 0;
        return growth;
    }

    /// <summary>
    /// Grows the window when half of it was consumed in under two round trips: the stream is then limited by the
    /// window rather than by its consumer, so the link's bandwidth-delay product is larger than the window (§6.2,
    /// after quic-go's auto-tuning). Growth comes out of the session's budget.
    /// </summary>
    private long AutoTune(long now, IStreamSession session)
    {
        var rtt = session.SmoothedRtt;
        if (rtt <= TimeSpan.Zero || Size >= session.MaxStreamWindow)
        {
            return 0;
        }
        if (session.TimeProvider.GetElapsedTime(_lastUpdate, now) >= rtt * 2)
        {
            return 0;
        }
        var grow = (int)session.TryReserveWindowGrowth(Math.Min(Size, session.MaxStreamWindow - Size));
        Size += grow;
        Growth += grow;
        return grow;
    }
}
