namespace Warren.Protocol.Session;

/// <summary>Which end of the transport this side is; it decides the parity of the stream ids it allocates.</summary>
public enum SessionRole
{
    /// <summary>Dialed the transport (the agent). Opens odd stream ids.</summary>
    Client,
    /// <summary>Accepted the transport (the edge). Opens even stream ids.</summary>
    Server,
}
