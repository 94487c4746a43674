namespace Warren.Edge.Cluster;

/// <summary>
/// A connection feature of a request that another edge of the cluster forwarded here over a peer stream
/// (docs/cluster.md, "Forwarding"): the edge it came from and the scheme its client used there. Only peer streams of
/// an authenticated edge carry it (Cluster/PeerListener.cs), so the client address and scheme they name are trusted,
/// and such a request is never forwarded again (no loop A→B→A).
/// </summary>
internal sealed record PeerOrigin(string Edge, string Scheme);
