namespace Warren.Protocol.Transport;

/// <summary>
/// A transport that can tell its session's reader loop that the next read of its input will complete at once (more
/// input has arrived and is waiting). The loop uses it to hand a stream's read several frames of one burst together.
/// </summary>
internal interface IInputHint
{
    bool MoreInputReady { get; }
}
