namespace Warren.Protocol.Framing;

/// <summary>
/// The peer broke the protocol. The session answers with GOAWAY carrying <see cref="Code"/> and closes.
/// This is the only exception the frame reader raises for bad input.
/// </summary>
public sealed class ProtocolException : Exception
{
    public ProtocolException(ErrorCode code, string message) : base(message) => Code = code;

    public ProtocolException() : this(ErrorCode.ProtocolError, "protocol error") { }

    public ProtocolException(string message) : this(ErrorCode.ProtocolError, message) { }

    public ProtocolException(string message, Exception inner) : base(message, inner) => Code = ErrorCode.ProtocolError;

    public ErrorCode Code { get; }
}
