using Warren.Protocol.Buffers;
using Warren.Protocol.Framing;

namespace Warren.Protocol.Session;

/// <summary>
/// Tunables of one multiplexed session. Every value has a safe default (docs/protocol.md §7 explains each one
/// and its anchor) and is checked by <see cref="Validate"/> before a session starts.
/// </summary>
public sealed class SessionOptions
{
    /// <summary>Largest DATA payload this side accepts, announced in HELLO. 1,024..65,535; default 16 KiB.</summary>
    public int MaxFramePayload { get; set; } = 16 * 1024;

    /// <summary>Receive window each new stream starts with, announced in HELLO. Default 256 KiB.</summary>
    public int InitialStreamWindow { get; set; } = 256 * 1024;

    /// <summary>
    /// Largest receive window one stream may auto-tune to when its consumer keeps up with a link whose
    /// bandwidth-delay product exceeds the window (docs/protocol.md §6.2). Default 16 MiB.
    /// </summary>
    public int MaxStreamWindow { get; set; } = 16 * 1024 * 1024;

    /// <summary>
    /// Bytes of window growth (beyond the initial windows) all streams of the session may hold together. With the
    /// stream limit this bounds the memory the peer can make us buffer. Default 64 MiB.
    /// </summary>
    public long SessionWindowGrowthBudget { get; set; } = 64L * 1024 * 1024;

    /// <summary>Streams the peer may have open that it opened, announced in HELLO. Default 8,192.</summary>
    public int MaxConcurrentStreams { get; set; } = 8192;

    /// <summary>Largest OPEN metadata accepted, announced in HELLO. 64..16,384; default 1 KiB.</summary>
    public int MaxOpenMetadata { get; set; } = 1024;

    /// <summary>Streams this side opened that the peer has not yet accepted; further opens wait. Default 256.</summary>
    public int MaxPendingOpens { get; set; } = 256;

    /// <summary>Streams the peer opened that the application has not yet accepted; beyond, RST REFUSED. Default 256.</summary>
    public int AcceptBacklog { get; set; } = 256;

    /// <summary>How long an open waits for the peer's ACCEPT. Default 30 s.</summary>
    public TimeSpan OpenTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How long the peer has to complete the HELLO exchange. Default 10 s.</summary>
    public TimeSpan HandshakeTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>A PING is sent this often; its reply measures the RTT. Default 10 s.</summary>
    public TimeSpan KeepAliveInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>The peer is declared dead when nothing arrives from it for this long. Default 30 s.</summary>
    public TimeSpan KeepAliveTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>The session is declared dead when one flush to the transport blocks this long. Default 10 s.</summary>
    public TimeSpan WriteTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Replies the peer can make us queue (PING ACKs, refusals) before it is cut off. Default 1,024.</summary>
    public int MaxQueuedControlReplies { get; set; } = 1024;

    /// <summary>Refused opens, resets of unaccepted streams and empty DATA frames tolerated per <see cref="AbuseWindow"/>. Default 100.</summary>
    public int AbuseBudget { get; set; } = 100;

    /// <summary>The window over which <see cref="AbuseBudget"/> counts. Default 5 s.</summary>
    public TimeSpan AbuseWindow { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>The writer flushes after this many bytes even if more frames are queued. Default 256 KiB.</summary>
    public int MaxWriteBatch { get; set; } = 256 * 1024;

    /// <summary>
    /// A producer that writes inline within this long of the previous inline flush leaves its flush to the writer
    /// loop, which sends it with whatever other streams frame meanwhile (SessionWriter; docs/performance.md, "Link
    /// writes under load"). One request at a time never comes this close, so it still leaves on its own thread at once.
    /// Default 100 µs; zero flushes every inline write at once.
    /// </summary>
    public TimeSpan CoalesceWithin { get; set; } = TimeSpan.FromMicroseconds(100);

    /// <summary>
    /// Where streams' inbound buffers come from. Default: <see cref="BlockPool.Shared"/>, shared by every session of
    /// the process; tests give a session its own to check that every block comes back.
    /// </summary>
    public BlockPool BufferPool { get; set; } = BlockPool.Shared;

    /// <summary>Clock for keepalive and timeouts; tests substitute a fake one.</summary>
    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;

    /// <summary>A copy to adjust without touching the caller's instance (the edge and agent apply their configured keepalive to it).</summary>
    public SessionOptions Clone() => (SessionOptions)MemberwiseClone();

    internal SessionSettings ToSettings() => new(MaxFramePayload, InitialStreamWindow, MaxConcurrentStreams, MaxOpenMetadata);

    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> naming the first option out of range.</summary>
    public void Validate()
    {
        Check(MaxFramePayload, SessionSettings.MinFramePayload, SessionSettings.MaxFramePayloadLimit, nameof(MaxFramePayload));
        Check(InitialStreamWindow, SessionSettings.MinStreamWindow, int.MaxValue, nameof(InitialStreamWindow));
        Check(MaxStreamWindow, InitialStreamWindow, int.MaxValue, nameof(MaxStreamWindow));
        Check(MaxConcurrentStreams, 1, 1 << 20, nameof(MaxConcurrentStreams));
        Check(MaxOpenMetadata, SessionSettings.MinOpenMetadata, SessionSettings.MaxOpenMetadataLimit, nameof(MaxOpenMetadata));
        Check(MaxPendingOpens, 1, 1 << 16, nameof(MaxPendingOpens));
        Check(AcceptBacklog, 1, 1 << 16, nameof(AcceptBacklog));
        Check(MaxQueuedControlReplies, 16, 1 << 20, nameof(MaxQueuedControlReplies));
        Check(AbuseBudget, 1, int.MaxValue, nameof(AbuseBudget));
        Check(MaxWriteBatch, 1024, 64 * 1024 * 1024, nameof(MaxWriteBatch));
        ArgumentOutOfRangeException.ThrowIfNegative(SessionWindowGrowthBudget, nameof(SessionWindowGrowthBudget));
        if (CoalesceWithin < TimeSpan.Zero || CoalesceWithin > TimeSpan.FromMilliseconds(10))
        {
            throw new ArgumentOutOfRangeException(nameof(CoalesceWithin), CoalesceWithin, "CoalesceWithin must be between 0 and 10 ms");
        }
        foreach (var (value, name) in new[]
        {
            (OpenTimeout, nameof(OpenTimeout)), (HandshakeTimeout, nameof(HandshakeTimeout)),
            (KeepAliveInterval, nameof(KeepAliveInterval)), (KeepAliveTimeout, nameof(KeepAliveTimeout)),
            (WriteTimeout, nameof(WriteTimeout)), (AbuseWindow, nameof(AbuseWindow)),
        })
        {
            if (value <= TimeSpan.Zero)
            {
                throw new ArgumentOutOfRangeException(name, value, $"{name} must be positive");
            }
        }
        if (KeepAliveTimeout <= KeepAliveInterval)
        {
            throw new ArgumentOutOfRangeException(nameof(KeepAliveTimeout), KeepAliveTimeout, "KeepAliveTimeout must exceed KeepAliveInterval");
        }
        ArgumentNullException.ThrowIfNull(TimeProvider);
        ArgumentNullException.ThrowIfNull(BufferPool);
    }

    private static void Check(long value, long min, long max, string name)
    {
        if (value < min || value > max)
        {
            throw new ArgumentOutOfRangeException(name, value, $"{name} must be within {min}..{max}");
        }
    }
}
