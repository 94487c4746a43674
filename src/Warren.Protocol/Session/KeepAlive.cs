namespace Warren.Protocol.Session;

/// <summary>
/// Liveness and round-trip time of a session (docs/protocol.md §8): when the peer was last heard from, the one PING of
/// ours that may be outstanding, and the smoothed RTT its replies measure. The session's tick asks it what to do.
/// </summary>
internal sealed class KeepAlive(TimeProvider time)
{
    private long _lastReceived = time.GetTimestamp();
    private long _pingSent;        // timestamp of the outstanding PING, 0 when none
    private long _lastPingTime;
    private long _rttTicks;

    /// <summary>Smoothed round-trip time (srtt = (7 srtt + sample) / 8); zero until the first reply.</summary>
    public TimeSpan SmoothedRtt => TimeSpan.FromTicks(Volatile.Read(ref _rttTicks));

    /// <summary>Any bytes from the peer count as life (reader loop).</summary>
    public void OnReceived() => Volatile.Write(ref _lastReceived, time.GetTimestamp());

    public TimeSpan SilentFor(long now) => time.GetElapsedTime(Volatile.Read(ref _lastReceived), now);

    /// <summary>Whether a PING is due: none outstanding and <paramref name="interval"/> passed since the last.</summary>
    public bool PingDue(long now, TimeSpan interval) =>
        Volatile.Read(ref _pingSent) == 0 && time.GetElapsedTime(Volatile.Read(ref _lastPingTime), now) >= interval;

    /// <summary>Records a PING about to be sent; returns its opaque value (the send time).</summary>
    public ulong StartPing()
    {
        var now = time.GetTimestamp();
        Volatile.Write(ref _lastPingTime, now);
        Volatile.Write(ref _pingSent, now);
        return (ulong)now;
    }

    /// <summary>A PING ACK arrived; one that is not ours, or late, is ignored.</summary>
    public void OnPingAck(ulong opaque)
    {
        var sent = Volatile.Read(ref _pingSent);
        if (sent == 0 || (ulong)sent != opaque)
        {
            return;
        }
        var sample = time.GetElapsedTime(sent, time.GetTimestamp()).Ticks;
        var previous = Volatile.Read(ref _rttTicks);
        Volatile.Write(ref _rttTicks, previous == 0 ? sample : ((previous * 7) + sample) / 8);
        Volatile.Write(ref _pingSent, 0);
    }
}
