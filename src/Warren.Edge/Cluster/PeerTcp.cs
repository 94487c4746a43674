using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Warren.Edge.Routing;
using Warren.Net;
using Warren.Protocol.Framing;
using Warren.Protocol.Session;
using Warren.Protocol.Streams;
using Warren.Protocol.Tunnel;

namespace Warren.Edge.Cluster;

/// <summary>
/// TCP services across the cluster (docs/cluster.md, "Forwarding"). Forwarding side: this edge listens on every port
/// another edge holds a session for (Tcp/TcpServiceHost.cs opens it), and a connection to a port no session here
/// serves is spliced onto a peer stream to an edge that holds one. Holding side: such a stream is one TCP client of
/// the service, with the client's address from the stream's metadata, checked and served as a CONNECT stream is
/// (Connect/ConnectHandler.cs: shield, caps, grace queue, policy, quota), never forwarded again.
/// </summary>
internal sealed partial class PeerTcp(PeerForwarder peers, RouteTable routes, Connect.ConnectHandler clients, TimeSpan idleTimeout, ILogger logger)
{
    private int _cursor;

    /// <summary>Whether another edge holds <paramref name="port"/> (this edge then listens on it too).</summary>
    public bool Holds(int port) => peers.Routes.MatchPort(port).Length > 0;

    /// <summary>The ports other edges hold now.</summary>
    public IReadOnlyCollection<int> Ports => peers.Routes.Ports;

    /// <summary>Raised when the ports other edges hold changed.</summary>
    public event Action? PortsChanged
    {
        add => peers.Routes.PortsChanged += value;
        remove => peers.Routes.PortsChanged -= value;
    }

    /// <summary>Whether a connection to <paramref name="port"/> goes to another edge: it holds it, and no usable session here serves it.</summary>
    public bool Takes(int port, ServiceEntry? local) =>
        Holds(port) && (local is null || (local.Control is null && local.Sessions.All(s => !s.IsUsable)));

    /// <summary>Splices <paramref name="client"/> onto a stream to an edge that holds <paramref name="port"/>; a reset when none takes it.</summary>
    public async Task ForwardAsync(Socket client, int port, CancellationToken stopping)
    {
        var edges = peers.Routes.MatchPort(port);
        var start = (uint)Interlocked.Increment(ref _cursor);
        var request = new StreamOpenRequest(StreamKind.Tcp, port.ToString(CultureInfo.InvariantCulture), client.RemoteEndPoint?.ToString() ?? "");
        MuxStream? stream = null;
        string? failure = null;
        for (var i = 0; i < edges.Length && stream is null; i++)
        {
            var link = peers.Link(edges[(int)((start + (uint)i) % (uint)edges.Length)]);
            if (!link.IsAvailable)
            {
                continue;
            }
            try
            {
                stream = await link.OpenAsync(request, stopping).ConfigureAwait(false);
            }
            catch (PeerUnavailableException ex)
            {
                failure = ex.Message; // never reached the holding edge's service: try the next one
            }
            catch (Exception ex) when (ex is MuxException or OperationCanceledException)
            {
                failure = ex.Message; // the holding edge refused it (overloaded, policy, no session within its grace)
                break;
            }
        }
        if (stream is null)
        {
            client.LingerState = new LingerOption(true, 0); // refused: a reset, as a port nobody serves
            Log.NotForwarded(logger, port, failure ?? "no edge holding it is reachable");
            return;
        }
        await using var streamScope = stream.ConfigureAwait(false);
        var network = new NetworkStream(client, ownsSocket: false);
        await using var networkScope = network.ConfigureAwait(false);
        var spliced = await Splice.RunAsync(
            network, stream.CompleteWrites,
            stream, () => ShutdownSend(client),
            idleTimeout, TimeProvider.System, stopping).ConfigureAwait(false);
        if (spliced.Failed || stream.ResetCode is not null)
        {
            // A cut on either side reaches the other as a cut, never as a clean end (as Tcp/TcpServiceHost.cs does).
            stream.Abort(ErrorCode.Cancel);
            client.LingerState = new LingerOption(true, 0);
        }
    }

    /// <summary>A forwarded TCP connection arrived from edge <paramref name="peer"/>: served as a client of this edge's service on the port.</summary>
    public async Task ServeAsync(MuxStream stream, int port, string clientText, string peer, CancellationToken closing)
    {
        try
        {
            await using var _ = stream.ConfigureAwait(false);
            if (routes.MatchPort(port) is not { } entry)
            {
                stream.Abort(ErrorCode.UnknownService);
                Log.NoService(logger, peer, port);
                return;
            }
            var address = IPEndPoint.TryParse(clientText, out var endPoint) ? endPoint.Address : null;
            await clients.ServeTcpClientAsync(stream, entry, address, clientText, "edge " + peer, closing).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is MuxException or IOException or OperationCanceledException or ObjectDisposedException)
        {
            Log.Failed(logger, peer, port, ex.Message);
        }
    }

    private static void ShutdownSend(Socket socket)
    {
        try
        {
            socket.Shutdown(SocketShutdown.Send);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
        }
    }

    private static partial class Log
    {
        [LoggerMessage(1785, LogLevel.Warning, "Cluster: TCP connection on port {Port}: no edge holding it could take it ({Reason}); reset", EventName = "ClusterTcpNotForwarded")]
        public static partial void NotForwarded(ILogger logger, int port, string reason);

        [LoggerMessage(1786, LogLevel.Warning, "Cluster: edge {Peer} forwarded a TCP connection for port {Port}, which no service here has", EventName = "ClusterTcpNoService")]
        public static partial void NoService(ILogger logger, string peer, int port);

        [LoggerMessage(1787, LogLevel.Information, "Cluster: TCP connection forwarded by edge {Peer} for port {Port} ended: {Message}", EventName = "ClusterTcpFailed")]
        public static partial void Failed(ILogger logger, string peer, int port, string message);
    }
}
