namespace Warren.Protocol.Streams;

/// <summary>
/// A stream's place in the lifecycle of docs/protocol.md §5.2. Every transition goes through
/// <see cref="StreamStates"/>; nothing else assigns a state.
/// </summary>
internal enum StreamState : byte
{
    /// <summary>Opened locally; the OPEN is queued but not yet written, so the peer has not heard of the stream.</summary>
    Idle,
    /// <summary>Both directions may carry DATA.</summary>
    Open,
    /// <summary>We sent FIN; the peer may still send.</summary>
    HalfClosedLocal,
    /// <summary>The peer sent FIN; we may still send.</summary>
    HalfClosedRemote,
    /// <summary>Both FINs, or a reset either way, or the session ended: the stream has left the session's table.</summary>
    Closed,
}

/// <summary>The §5.2 transition table.</summary>
internal static class StreamStates
{
    /// <summary>The OPEN frame was written.</summary>
    public static StreamState OpenSent(StreamState state) => state == StreamState.Idle ? StreamState.Open : state;

    /// <summary>Our FIN was written.</summary>
    public static StreamState FinSent(StreamState state) => state switch
    {
        StreamState.Open => StreamState.HalfClosedLocal,
        StreamState.HalfClosedRemote => StreamState.Closed,
        _ => state,
    };

    /// <summary>The peer's FIN arrived.</summary>
    public static StreamState FinReceived(StreamState state) => state switch
    {
        StreamState.Open or StreamState.Idle => StreamState.HalfClosedRemote,
        StreamState.HalfClosedLocal => StreamState.Closed,
        _ => state,
    };

    /// <summary>Whether the peer may still send DATA (it has not sent FIN and nobody reset the stream).</summary>
    public static bool PeerSending(StreamState state) => state is StreamState.Idle or StreamState.Open or StreamState.HalfClosedLocal;

    /// <summary>Whether we may still send DATA.</summary>
    public static bool LocalSending(StreamState state) => state is StreamState.Idle or StreamState.Open or StreamState.HalfClosedRemote;
}
