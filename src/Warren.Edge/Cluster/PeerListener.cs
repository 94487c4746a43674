using System.Globalization;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging;
using Warren.Edge.Hosting;
using Warren.Protocol.Framing;
using Warren.Protocol.Session;
using Warren.Protocol.Streams;
using Warren.Protocol.Transport;
using Warren.Protocol.Tunnel;

namespace Warren.Edge.Cluster;

/// <summary>
/// The edge-to-edge listener (cluster.listen; docs/cluster.md, "Forwarding"): TLS with the agent link's certificate,
/// the peer handshake (<see cref="PeerHandshake"/>: the cluster secret proven, never sent), then a multiplexed session
/// like an agent's, with the dialing edge as client. Each stream that edge opens is one forwarded client: an HTTP
/// connection handed to Kestrel (<see cref="PeerHttpTransport"/>) or a TCP connection for one of this edge's TCP
/// services (<see cref="PeerTcp"/>). A connection that fails the TLS handshake or the peer handshake, or takes longer
/// than <see cref="HandshakeTimeout"/> for both, is logged and dropped; at most <see cref="MaxConnections"/> are open.
/// </summary>
internal sealed partial class PeerListener : IAsyncDisposable
{
    /// <summary>TLS and the peer handshake together.</summary>
    public static readonly TimeSpan HandshakeTimeout = TimeSpan.FromSeconds(10);

    /// <summary>Peer connections open at once (each edge dials one session to each other edge).</summary>
    public const int MaxConnections = 64;

    private readonly AcceptingListener _listener;
    private readonly SslStreamCertificateContext? _certificate;
    private readonly List<SslApplicationProtocol>? _sealedRecords;
    private readonly byte[] _fingerprint;
    private readonly ClusterConnection _cluster;
    private readonly SessionOptions _options;
    private readonly PeerHttpTransport _http;
    private readonly ILogger _logger;
    private readonly Lock _lock = new();
    private readonly HashSet<MuxSession> _sessions = [];

    private PeerListener(Socket socket, X509Certificate2? certificate, bool sealedRecords, ClusterConnection cluster, SessionOptions options, PeerHttpTransport http, ILogger logger)
    {
        _sealedRecords = SealedLinkStream.Offer(sealedRecords);
        _listener = new AcceptingListener(socket, MaxConnections, ServeAsync, (remote, max) => Log.TooMany(logger, remote, max));
        _certificate = certificate is null ? null : SslStreamCertificateContext.Create(certificate, additionalCertificates: null);
        _fingerprint = PeerHandshake.Fingerprint(certificate);
        _cluster = cluster;
        _options = options;
        _http = http;
        _logger = logger;
    }

    /// <summary>The address other edges dial: cluster.advertise, or the bound listener (its port when 0 was asked).</summary>
    public string Advertise { get; private set; } = "";

    /// <summary>Serves the TCP connections other edges forward here (Cluster/PeerTcp.cs); null: refused.</summary>
    public PeerTcp? Tcp { get; set; }

    /// <summary>Authenticated peer sessions open now (tests, status).</summary>
    public int SessionCount
    {
        get
        {
            lock (_lock)
            {
                return _sessions.Count;
            }
        }
    }

    /// <summary>Binds cluster.listen and starts accepting; <paramref name="sealedRecords"/> false keeps peer links on TLS (agent_tls.sealed_records).</summary>
    public static PeerListener Start(ClusterConnection cluster, X509Certificate2? certificate, bool sealedRecords, SessionOptions options, PeerHttpTransport http, ILogger logger)
    {
        var endPoint = Warren.Configuration.ListenEndPoint.Parse(cluster.Config.Listen);
        var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            if (endPoint.Address.Equals(IPAddress.IPv6Any))
            {
                socket.DualMode = true;
            }
            socket.Bind(endPoint);
            socket.Listen(128);
        }
        catch (SocketException ex)
        {
            socket.Dispose();
            throw new IOException($"cluster.listen {cluster.Config.Listen}: cannot listen: {ex.Message}", ex);
        }
        var listener = new PeerListener(socket, certificate, sealedRecords, cluster, options, http, logger);
        var bound = (IPEndPoint)socket.LocalEndPoint!;
        listener.Advertise = cluster.Config.Advertise ?? (bound.Address.AddressFamily == AddressFamily.InterNetworkV6
            ? $"[{bound.Address}]:{bound.Port.ToString(CultureInfo.InvariantCulture)}"
            : $"{bound.Address}:{bound.Port.ToString(CultureInfo.InvariantCulture)}");
        if (certificate is null)
        {
            Log.Plain(logger, listener.Advertise);
        }
        listener._listener.Start(); // the accept loop (Hosting/AcceptingListener.cs): ServeAsync below per connection
        return listener;
    }

    private async Task ServeAsync(Socket client, EndPoint? remoteEndPoint)
    {
        await Task.Yield(); // off the accept loop
        var remote = remoteEndPoint?.ToString() ?? "?";
        try
        {
            client.NoDelay = true;
            client.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.KeepAlive, true);
            var network = new LinkStream(client, ownsSocket: false);
            Stream stream = network;
            string peer;
            using (var handshake = CancellationTokenSource.CreateLinkedTokenSource(_listener.Stopping))
            {
                handshake.CancelAfter(HandshakeTimeout);
                try
                {
                    if (_certificate is not null)
                    {
                        var tls = network.StartTls(leaveInnerStreamOpen: true);
                        stream = tls;
                        await tls.AuthenticateAsServerAsync(new SslServerAuthenticationOptions
                        {
                            ServerCertificateContext = _certificate,
                            // An edge that offers sealed records gets them, as agents do (docs/protocol.md §1.1), unless
                            // they are off here; one from before them offers nothing and stays on TLS.
                            ApplicationProtocols = _sealedRecords,
                        }, handshake.Token).ConfigureAwait(false);
                        stream = await SealedLinkStream.SwitchIfAgreedAsync(tls, network, isClient: false, ownsSocket: false, handshake.Token).ConfigureAwait(false);
                    }
                    peer = await PeerHandshake.ListenAsync(stream, _cluster.Config.Secret, _cluster.EdgeName, _fingerprint, handshake.Token).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is PeerAuthException or AuthenticationException or IOException or OperationCanceledException or SocketException)
                {
                    Log.Refused(_logger, remote, ex is OperationCanceledException ? $"no handshake within {HandshakeTimeout.TotalSeconds:0} s" : ex.Message);
                    await stream.DisposeAsync().ConfigureAwait(false);
                    return;
                }
            }
            await using (stream.ConfigureAwait(false))
            {
                var transport = StreamTransport.Create(stream, network);
                var session = await MuxSession.StartAsync(transport, SessionRole.Server, _options, _logger, abortTransport: client.Dispose,
                    name: $"edge<-peer {peer}", cancellationToken: _listener.Stopping).ConfigureAwait(false);
                await using (session.ConfigureAwait(false))
                {
                    lock (_lock)
                    {
                        _sessions.Add(session);
                    }
                    Log.Accepted(_logger, peer, remote, SealedLinkStream.Describe(stream));
                    try
                    {
                        await AcceptStreamsAsync(session, peer, remoteEndPoint as IPEndPoint).ConfigureAwait(false);
                        Log.Ended(_logger, peer, (await session.Completion.ConfigureAwait(false)).ToString());
                    }
                    finally
                    {
                        lock (_lock)
                        {
                            _sessions.Remove(session);
                        }
                    }
                }
            }
        }
        catch (Exception ex)
        {
            Log.Failed(_logger, remote, ex.Message);
        }
        finally
        {
            _listener.Release(client);
        }
    }

    private async Task AcceptStreamsAsync(MuxSession session, string peer, IPEndPoint? peerAddress)
    {
        var local = (IPEndPoint)_listener.LocalEndPoint;
        while (true)
        {
            MuxStream stream;
            try
            {
                stream = await session.AcceptStreamAsync(session.Closing).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is MuxException or OperationCanceledException)
            {
                return; // the session ends
            }
            StreamOpenRequest open;
            try
            {
                open = StreamOpenRequest.Decode(stream.Metadata.Span);
            }
            catch (ProtocolException ex)
            {
                session.Abort(ex.Code, ex.Message);
                stream.Dispose();
                return;
            }
            switch (open.Kind)
            {
                case StreamKind.Http when open.Service is "http" or "https":
                    stream.Accept();
                    var connection = new PeerConnection(stream, peerAddress ?? local, local, new PeerOrigin(peer, open.Service));
                    if (!_http.TryHandOver(connection))
                    {
                        Log.Backlog(_logger, peer, PeerHttpTransport.Backlog);
                        await connection.DisposeAsync().ConfigureAwait(false);
                    }
                    break;
                case StreamKind.Tcp when Tcp is { } tcp && int.TryParse(open.Service, NumberStyles.None, CultureInfo.InvariantCulture, out var port):
                    _ = tcp.ServeAsync(stream, port, open.ClientAddress, peer, session.Closing);
                    break;
                default:
                    stream.Abort(ErrorCode.UnknownService);
                    stream.Dispose();
                    break;
            }
        }
    }

    /// <summary>Stops accepting edges; the sessions open get GOAWAY (their streams finish within <paramref name="grace"/>).</summary>
    public Task DrainAsync(TimeSpan grace)
    {
        _listener.StopAccepting();
        MuxSession[] sessions;
        lock (_lock)
        {
            sessions = [.. _sessions];
        }
        return Task.WhenAll(sessions.Select(s => s.DrainAsync(grace)));
    }

    /// <summary>Stops accepting and cuts every connection still open; waits for their handlers to end.</summary>
    public ValueTask DisposeAsync() => _listener.DisposeAsync();

    private static partial class Log
    {
        [LoggerMessage(1760, LogLevel.Warning, "Cluster: refused an edge-to-edge connection from {Remote}: {Reason}", EventName = "ClusterPeerRefused")]
        public static partial void Refused(ILogger logger, string remote, string reason);

        [LoggerMessage(1761, LogLevel.Information, "Cluster: edge {Peer} connected from {Remote} over {Link}", EventName = "ClusterPeerAccepted")]
        public static partial void Accepted(ILogger logger, string peer, string remote, string link);

        [LoggerMessage(1762, LogLevel.Information, "Cluster: edge {Peer}'s session ended: {Reason}", EventName = "ClusterPeerEnded")]
        public static partial void Ended(ILogger logger, string peer, string reason);

        [LoggerMessage(1763, LogLevel.Warning, "Cluster: edge-to-edge connection from {Remote} failed: {Message}", EventName = "ClusterPeerFailed")]
        public static partial void Failed(ILogger logger, string remote, string message);

        [LoggerMessage(1764, LogLevel.Warning, "Cluster: refused an edge-to-edge connection from {Remote}: {Max} are open", EventName = "ClusterPeerConnectionsFull")]
        public static partial void TooMany(ILogger logger, string? remote, int max);

        [LoggerMessage(1765, LogLevel.Warning, "Cluster: a request forwarded by edge {Peer} was refused: {Backlog} forwarded connections wait for this edge's HTTP server", EventName = "ClusterPeerBacklog")]
        public static partial void Backlog(ILogger logger, string peer, int backlog);

        [LoggerMessage(1766, LogLevel.Warning, "Cluster: the edge-to-edge listener on {Listen} is PLAIN TCP (agent_tls.insecure): forwarded requests travel unencrypted; the cluster secret still authenticates each edge", EventName = "ClusterPeerPlain")]
        public static partial void Plain(ILogger logger, string listen);
    }
}
