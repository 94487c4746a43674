using System.Net;
using System.Threading.Channels;
using Microsoft.AspNetCore.Connections;

namespace Warren.Edge.Cluster;

/// <summary>
/// A Kestrel transport whose connections are the HTTP streams other edges forward here (docs/cluster.md,
/// "Forwarding"): Kestrel binds it for <see cref="PeerEndPoint"/> only (the socket transport keeps every other
/// address), and each stream the edge-to-edge listener accepts is handed to it as a <see cref="PeerConnection"/>, so
/// the request runs this edge's whole pipeline (shield, policy, request log, grace queue, forwarding to its agent)
/// with the real client's address. Bounded: a stream that finds the queue full is refused (the forwarding edge answers
/// 502 and logs it).
/// </summary>
internal sealed class PeerHttpTransport : IConnectionListenerFactory, IConnectionListenerFactorySelector
{
    /// <summary>Streams handed over and not yet taken by Kestrel's accept loop.</summary>
    public const int Backlog = 512;

    private readonly Channel<PeerConnection> _accepted = Channel.CreateBounded<PeerConnection>(
        new BoundedChannelOptions(Backlog) { FullMode = BoundedChannelFullMode.Wait, SingleReader = true });

    /// <summary>Queues a forwarded stream for Kestrel; false when the backlog is full or Kestrel stopped.</summary>
    public bool TryHandOver(PeerConnection connection) => _accepted.Writer.TryWrite(connection);

    public bool CanBind(EndPoint endpoint) => endpoint is PeerEndPoint;

    public ValueTask<IConnectionListener> BindAsync(EndPoint endpoint, CancellationToken cancellationToken = default) =>
        ValueTask.FromResult<IConnectionListener>(new Listener(endpoint, _accepted.Reader));

    private sealed class Listener(EndPoint endpoint, ChannelReader<PeerConnection> accepted) : IConnectionListener
    {
        private readonly CancellationTokenSource _unbound = new();

        public EndPoint EndPoint { get; } = endpoint;

        public async ValueTask<ConnectionContext?> AcceptAsync(CancellationToken cancellationToken = default)
        {
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _unbound.Token);
            try
            {
                return await accepted.ReadAsync(linked.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return null; // unbound: Kestrel stops accepting
            }
        }

        public ValueTask UnbindAsync(CancellationToken cancellationToken = default)
        {
            _unbound.Cancel();
            return ValueTask.CompletedTask;
        }

        public ValueTask DisposeAsync()
        {
            _unbound.Cancel();
            _unbound.Dispose();
            return ValueTask.CompletedTask;
        }
    }
}
