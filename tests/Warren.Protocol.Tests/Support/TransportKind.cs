namespace Warren.Protocol.Tests.Support;

/// <summary>The transports every session test runs over (yamux <c>testConnTypes</c>).</summary>
public enum TransportKind
{
    /// <summary>Two in-memory pipes (<c>StreamTransport.CreateInMemoryPair</c>).</summary>
    InMemory,
    /// <summary>A real TCP connection on 127.0.0.1, wrapped with <c>StreamTransport.Create</c>.</summary>
    Tcp,
    /// <summary>TLS over a real TCP connection, through <c>LinkStream</c>: the agent link as edge and agent run it.</summary>
    Tls,
    /// <summary>TLS that agrees sealed records, then <c>SealedLinkStream</c>: the agent link as edge and agent run it since 2026-12-07.</summary>
    Sealed,
}
