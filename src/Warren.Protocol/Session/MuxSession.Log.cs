using Microsoft.Extensions.Logging;
using Warren.Protocol.Framing;

namespace Warren.Protocol.Session;

public sealed partial class MuxSession
{
    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Information, "Session {Session} closed: {Reason}", EventName = "SessionClosed")]
        public static partial void SessionClosed(ILogger logger, string session, string reason);

        [LoggerMessage(2, LogLevel.Warning, "Session {Session} failed: {Reason}", EventName = "SessionFailed")]
        public static partial void SessionFailed(ILogger logger, string session, string reason);

        [LoggerMessage(3, LogLevel.Warning, "Session {Session}: protocol violation by the peer ({Code}): {Message}", EventName = "ProtocolViolation")]
        public static partial void ProtocolViolation(ILogger logger, string session, ErrorCode code, string message);

        [LoggerMessage(4, LogLevel.Warning, "Session {Session}: nothing received for {Seconds:0.#} s; declaring the peer dead", EventName = "KeepAliveTimeout")]
        public static partial void KeepAliveTimeout(ILogger logger, string session, double seconds);

        [LoggerMessage(5, LogLevel.Warning, "Session {Session}: a transport write blocked for over {Seconds:0.#} s; closing", EventName = "WriteTimeout")]
        public static partial void WriteTimeout(ILogger logger, string session, double seconds);

        [LoggerMessage(6, LogLevel.Debug, "Session {Session}: refused stream {StreamId}: {Reason}", EventName = "StreamRefused")]
        public static partial void StreamRefused(ILogger logger, string session, uint streamId, string reason);

        [LoggerMessage(7, LogLevel.Information, "Session {Session}: going away: {Reason}", EventName = "GoingAway")]
        public static partial void GoingAway(ILogger logger, string session, string reason);

        [LoggerMessage(8, LogLevel.Information, "Session {Session}: the peer is going away: {Reason}", EventName = "PeerGoingAway")]
        public static partial void PeerGoingAway(ILogger logger, string session, string reason);

        [LoggerMessage(10, LogLevel.Error, "Session {Session}: the continuation of a read on stream {StreamId} threw", EventName = "ContinuationFailed")]
        public static partial void ContinuationFailed(ILogger logger, string session, uint streamId, Exception exception);

        [LoggerMessage(9, LogLevel.Debug, "Session {Session}: aborting the transport failed", EventName = "AbortFailed")]
        public static partial void AbortFailed(ILogger logger, string session, Exception exception);
    }
}
