namespace Warren.Edge.Cluster;

/// <summary>
/// Another edge could not take a forwarded request or connection before anything of it was sent (unreachable, refused
/// the handshake, draining): safe to try another edge that holds the service (docs/cluster.md, "Failure modes").
/// </summary>
internal sealed class PeerUnavailableException(string message, Exception? inner = null) : IOException(message, inner);
