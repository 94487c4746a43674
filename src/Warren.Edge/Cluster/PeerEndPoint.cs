using System.Net;

namespace Warren.Edge.Cluster;

/// <summary>
/// The Kestrel "address" of the HTTP streams other edges forward here (Cluster/PeerHttpTransport.cs): not a socket,
/// the edge-to-edge listener's accepted HTTP streams (docs/cluster.md, "Forwarding").
/// </summary>
internal sealed class PeerEndPoint : EndPoint
{
    public override string ToString() => "cluster-peers";
}
