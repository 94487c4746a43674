namespace Warren.Protocol.Tunnel;

/// <summary>What a tunnel stream carries (docs/protocol.md §10.1).</summary>
public enum StreamKind : byte
{
    /// <summary>HTTP/1.1 bytes (requests, and upgraded connections after a 101) for an HTTP service.</summary>
    Http = 1,
    /// <summary>Raw bytes of one TCP connection to a TCP service.</summary>
    Tcp = 2,
    /// <summary>The session's control channel: authentication and service registration. Opened once, by the agent.</summary>
    Control = 3,
    /// <summary>
    /// Raw bytes of one local connection of a <c>warren connect</c> client, to a private service (docs/protocol.md
    /// §10.4). Opened only by a connect client, toward the edge; the edge passes the bytes on as a <see cref="Tcp"/>
    /// stream to the agent that publishes the service.
    /// </summary>
    Connect = 4,
}
