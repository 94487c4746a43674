namespace Warren.Agent.Connect;

/// <summary>
/// The edge refused the connect session's login: an invalid token, a token not granted the private service, or an
/// edge that does not know <c>warren connect</c>. Lasting: trying again changes nothing until the operator does.
/// </summary>
public sealed class ConnectRefusedException : Exception
{
    public ConnectRefusedException(string message) : base(message) { }

    public ConnectRefusedException() : base("the edge refused the connect session") { }

    public ConnectRefusedException(string message, Exception inner) : base(message, inner) { }
}
