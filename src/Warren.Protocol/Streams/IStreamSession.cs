using Warren.Protocol.Buffers;
using Warren.Protocol.Framing;
using Warren.Protocol.Session;

namespace Warren.Protocol.Streams;

/// <summary>
/// All a stream may ask of its session (as a Kestrel HTTP/2 stream reaches its connection only through
/// IHttp2StreamLifetimeHandler). None of these take a lock that a stream's lock could be held inside of.
/// </summary>
internal interface IStreamSession
{
    TimeProvider TimeProvider { get; }

    /// <summary>Where receive buffers come from.</summary>
    BlockPool BufferPool { get; }

    SessionCounters Counters { get; }

    /// <summary>Smoothed round-trip time, for window auto-tuning; zero until measured.</summary>
    TimeSpan SmoothedRtt { get; }

    /// <summary>The largest window a stream may auto-tune to.</summary>
    int MaxStreamWindow { get; }

    /// <summary>Takes up to <paramref name="bytes"/> of window growth from the session's budget; returns what was granted.</summary>
    long TryReserveWindowGrowth(long bytes);

    /// <summary>
    /// The stream has frames to write: it joins the writer's queue of ready streams (once). With <paramref name="wake"/>
    /// false the caller calls <see cref="TryWriteInline"/> next, and the writer loop need not be woken.
    /// </summary>
    void Schedule(MuxStream stream, bool wake);

    /// <summary>Writes what is queued on the caller's thread if no one else is writing (the writer's fast path).</summary>
    void TryWriteInline();

    void EnqueueReset(uint streamId, ErrorCode code);

    void EnqueueWindowUpdate(uint streamId, uint increment);

    /// <summary>The stream reached <see cref="StreamState.Closed"/>: forget it, and return its window growth.</summary>
    void OnStreamClosed(MuxStream stream, long growth);

    /// <summary>A stream the peer opened is closed and released by the application: it stops counting against the peer's limit.</summary>
    void OnPeerStreamSettled();
}
