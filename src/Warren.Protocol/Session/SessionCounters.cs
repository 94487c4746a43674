namespace Warren.Protocol.Session;

/// <summary>Running totals of one session, read by metrics. Updated with plain increments by the owning loop.</summary>
public sealed class SessionCounters
{
    internal long _framesSent;
    internal long _framesReceived;
    internal long _bytesSent;
    internal long _bytesReceived;
    internal long _flowControlStalls;
    internal long _streamsOpened;
    internal long _streamsAccepted;
    internal long _streamsRefused;

    public long FramesSent => Volatile.Read(ref _framesSent);
    public long FramesReceived => Volatile.Read(ref _framesReceived);
    public long BytesSent => Volatile.Read(ref _bytesSent);
    public long BytesReceived => Volatile.Read(ref _bytesReceived);
    /// <summary>Times a stream had data to send but no window.</summary>
    public long FlowControlStalls => Volatile.Read(ref _flowControlStalls);
    public long StreamsOpened => Volatile.Read(ref _streamsOpened);
    public long StreamsAccepted => Volatile.Read(ref _streamsAccepted);
    public long StreamsRefused => Volatile.Read(ref _streamsRefused);
}
