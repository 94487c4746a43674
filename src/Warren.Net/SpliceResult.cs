namespace Warren.Net;

/// <summary>
/// What a splice moved, and whether it ended because a side failed (a reset, a broken connection) rather than
/// by both sides finishing, the idle timeout or cancellation. A failed splice is torn down with resets on both
/// sides, so a crash on one end never reaches the other as a clean end of stream. <see cref="FailedSide"/> says
/// whose I/O failed first, so the edge can tell a client that reset from a service that was cut; <see cref="Error"/>
/// is that failure, for the log.
/// </summary>
internal readonly record struct SpliceResult(long AToB, long BToA, SpliceSide FailedSide, Exception? Error = null)
{
    public bool Failed => FailedSide != SpliceSide.None;
}
