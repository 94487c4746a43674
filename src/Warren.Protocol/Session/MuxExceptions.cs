using Warren.Protocol.Framing;

namespace Warren.Protocol.Session;

/// <summary>Base of the multiplexer's I/O errors; an <see cref="IOException"/> so HTTP and stream code treat it as one.</summary>
public class MuxException : IOException
{
    public MuxException(ErrorCode code, string message, Exception? inner = null) : base(message, inner) => Code = code;

    public MuxException() : this(ErrorCode.InternalError, "multiplexer error") { }

    public MuxException(string message) : this(ErrorCode.InternalError, message) { }

    public MuxException(string message, Exception inner) : this(ErrorCode.InternalError, message, inner) { }

    public ErrorCode Code { get; }
}

/// <summary>The stream was reset, by the peer (<see cref="ByPeer"/>) or locally.</summary>
public sealed class StreamAbortedException : MuxException
{
    public StreamAbortedException(ErrorCode code, bool byPeer)
        : base(code, byPeer ? $"stream reset by peer: {code}" : $"stream aborted: {code}") => ByPeer = byPeer;

    public StreamAbortedException() : this(ErrorCode.Cancel, byPeer: false) { }

    public StreamAbortedException(string message) : base(ErrorCode.Cancel, message) { }

    public StreamAbortedException(string message, Exception inner) : base(ErrorCode.Cancel, message, inner) { }

    public bool ByPeer { get; }
}

/// <summary>The session is closed or going away; no stream can be opened or used on it.</summary>
public sealed class SessionClosedException : MuxException
{
    public SessionClosedException(ErrorCode code, string reason) : base(code, $"session closed ({code}): {reason}") { }

    public SessionClosedException() : this(ErrorCode.NoError, "closed") { }

    public SessionClosedException(string message) : base(ErrorCode.NoError, message) { }

    public SessionClosedException(string message, Exception inner) : base(ErrorCode.NoError, message, inner) { }
}
