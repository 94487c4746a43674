namespace Warren.Edge.Cluster;

/// <summary>The edge-to-edge handshake failed: the other side is not an edge of this cluster (docs/cluster.md, "The peer handshake").</summary>
internal sealed class PeerAuthException(string message) : Exception(message);
