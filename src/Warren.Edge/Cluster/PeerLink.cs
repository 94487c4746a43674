using System.Net;
using System.Net.Http;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using Warren.Configuration;
using Warren.Protocol.Framing;
using Warren.Protocol.Session;
using Warren.Protocol.Streams;
using Warren.Protocol.Transport;
using Warren.Protocol.Tunnel;

namespace Warren.Edge.Cluster;

/// <summary>
/// This edge's session to one other edge (docs/cluster.md, "Forwarding"): dialed on the first stream it is asked for,
/// reused by every stream after it, dialed again when it ends, and after a failure not before a backoff (1 s doubling
/// to 30 s) has passed, so a dead edge costs a request one failed connect at most per backoff, never a wait. The peer's
/// address and certificate fingerprint come from its heartbeat (Redis is the trusted channel); the certificate is
/// pinned, then the peer handshake proves the cluster secret both ways (<see cref="PeerHandshake"/>). The session's
/// HTTP client (a keep-alive pool whose connections are streams of it) is retired with the session.
/// </summary>
internal sealed partial class PeerLink : IAsyncDisposable
{
    private static readonly TimeSpan FirstBackoff = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(30);

    /// <summary>A request that took the session's client just before GOAWAY has this long to start on it (as Forwarding/TunnelHttpClient.cs).</summary>
    private static readonly TimeSpan RetireDelay = TimeSpan.FromSeconds(1);

    private readonly ClusterConnection _cluster;
    private readonly SessionOptions _options;
    private readonly Func<(string Advertise, string? Fingerprint)?> _lookup;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly Lock _lock = new();
    private Connected? _current;
    private Task<Connected>? _connecting;
    private long _retryAt;
    private int _failures;
    private bool _disposed;

    public PeerLink(string name, ClusterConnection cluster, SessionOptions options, Func<(string Advertise, string? Fingerprint)?> lookup, TimeProvider time, ILogger logger)
    {
        Name = name;
        _cluster = cluster;
        _options = options;
        _lookup = lookup;
        _time = time;
        _logger = logger;
    }

    /// <summary>Whether the TLS handshake offers sealed records (agent_tls.sealed_records); false keeps the link on TLS.</summary>
    public bool SealedRecords { get; init; } = true;

    /// <summary>The peer edge's name (cluster.name).</summary>
    public string Name { get; }

    /// <summary>Whether a stream asked for now would be tried: a session is up, or none failed within the backoff.</summary>
    public bool IsAvailable
    {
        get
        {
            lock (_lock)
            {
                return _current is { Session.IsGoingAway: false } || _time.GetTimestamp() >= _retryAt;
            }
        }
    }

    /// <summary>The session's HTTP client (dialing the session first when there is none).</summary>
    public async ValueTask<HttpMessageInvoker> HttpAsync(CancellationToken cancellationToken) => (await ConnectedAsync(cancellationToken).ConfigureAwait(false)).Http;

    /// <summary>Opens a stream to the peer; <see cref="PeerUnavailableException"/> when it cannot be reached or refused the open unprocessed.</summary>
    public async ValueTask<MuxStream> OpenAsync(StreamOpenRequest request, CancellationToken cancellationToken)
    {
        var connected = await ConnectedAsync(cancellationToken).ConfigureAwait(false);
        return await OpenOnAsync(connected.Session, request, cancellationToken).ConfigureAwait(false);
    }

    private async ValueTask<MuxStream> OpenOnAsync(MuxSession session, StreamOpenRequest request, CancellationToken cancellationToken)
    {
        try
        {
            return await session.OpenStreamAsync(request.Encode(), cancellationToken).ConfigureAwait(false);
        }
        catch (MuxException ex) when (ex.Code == ErrorCode.RefusedStream || ex is SessionClosedException)
        {
            // GOAWAY crossed the open (the peer drains) or the session ended: the peer never processed it.
            throw new PeerUnavailableException($"edge {Name} refused the stream unprocessed: {ex.Message}", ex);
        }
    }

    private ValueTask<Connected> ConnectedAsync(CancellationToken cancellationToken)
    {
        Task<Connected> connecting;
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_current is { Session.IsGoingAway: false } current)
            {
                return ValueTask.FromResult(current);
            }
            if (_connecting is null)
            {
                if (_time.GetTimestamp() < _retryAt)
                {
                    throw new PeerUnavailableException($"edge {Name} is unreachable (the last attempt failed; next try after the backoff)");
                }
                _connecting = ConnectAsync();
            }
            connecting = _connecting;
        }
        return new ValueTask<Connected>(connecting.WaitAsync(cancellationToken));
    }

    private async Task<Connected> ConnectAsync()
    {
        await Task.Yield(); // the caller holds the lock
        try
        {
            var session = await DialAsync().ConfigureAwait(false);
            var connected = new Connected(session, CreateHttp(session));
            lock (_lock)
            {
                _connecting = null;
                _failures = 0;
                if (_disposed)
                {
                    connected.Retire();
                    throw new ObjectDisposedException(nameof(PeerLink));
                }
                _current = connected;
            }
            // Gone or going away (the peer drains): the next stream dials again, and the pool is retired a moment
            // later (requests that took it just before may still start on it), so its idle keep-alive connections
            // close now instead of holding the peer's drain open until they idle out; busy ones close when done.
            session.GoingAway.Register(() =>
            {
                lock (_lock)
                {
                    if (_current == connected)
                    {
                        _current = null;
                    }
                }
                _ = Task.Delay(RetireDelay).ContinueWith(_ => connected.Retire(), CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default);
            });
            Log.Connected(_logger, Name);
            return connected;
        }
        catch (Exception ex) when (ex is not ObjectDisposedException)
        {
            TimeSpan backoff;
            lock (_lock)
            {
                _connecting = null;
                backoff = TimeSpan.FromTicks(Math.Min(MaxBackoff.Ticks, FirstBackoff.Ticks << Math.Min(_failures, 10)));
                _failures++;
                _retryAt = _time.GetTimestamp() + (long)(backoff.TotalSeconds * _time.TimestampFrequency);
            }
            Log.DialFailed(_logger, Name, ex.Message, backoff.TotalSeconds);
            throw ex as PeerUnavailableException ?? new PeerUnavailableException($"edge {Name} is unreachable: {ex.Message}", ex);
        }
    }

    private async Task<MuxSession> DialAsync()
    {
        if (_lookup() is not { } peer)
        {
            throw new PeerUnavailableException($"edge {Name} is not in the registry");
        }
        if (!ConfigFormats.TryParseHostPort(peer.Advertise, out var host, out var port))
        {
            throw new PeerUnavailableException($"edge {Name} advertises '{peer.Advertise}', not host:port");
        }
        using var limit = new CancellationTokenSource(PeerListener.HandshakeTimeout);
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        Stream? stream = null;
        try
        {
            await socket.ConnectAsync(host, port, limit.Token).ConfigureAwait(false);
            socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.KeepAlive, true);
            var network = new LinkStream(socket, ownsSocket: true);
            stream = network;
            var fingerprint = new byte[32];
            if (peer.Fingerprint is { } pinned)
            {
                var expected = Convert.FromHexString(pinned);
                var tls = network.StartTls(leaveInnerStreamOpen: false);
                stream = tls;
                await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
                {
                    TargetHost = host,
                    // Pinned by the fingerprint the peer published in its heartbeat: the full SHA-256, as agents pin.
                    RemoteCertificateValidationCallback = (_, certificate, _, _) =>
                        certificate is not null && CryptographicOperations.FixedTimeEquals(SHA256.HashData(certificate.GetRawCertData()), expected),
                    // Sealed records when the peer agrees, as agents do (docs/protocol.md §1.1); the peer handshake
                    // then runs inside them.
                    ApplicationProtocols = SealedLinkStream.Offer(SealedRecords),
                }, limit.Token).ConfigureAwait(false);
                stream = await SealedLinkStream.SwitchIfAgreedAsync(tls, network, isClient: true, ownsSocket: true, limit.Token).ConfigureAwait(false);
                fingerprint = expected;
            }
            await PeerHandshake.DialAsync(stream, _cluster.Config.Secret, _cluster.EdgeName, fingerprint, limit.Token).ConfigureAwait(false);
            var transport = StreamTransport.Create(stream, network);
            var session = await MuxSession.StartAsync(transport, SessionRole.Client, _options, _logger, abortTransport: socket.Dispose,
                name: $"edge->peer {Name}", cancellationToken: limit.Token).ConfigureAwait(false);
            session.RefuseIncomingStreams(); // streams go one way: the dialing edge forwards, the peer serves
            _ = CloseWhenEndedAsync(session, stream);
            return session;
        }
        catch
        {
            if (stream is not null)
            {
                await stream.DisposeAsync().ConfigureAwait(false);
            }
            socket.Dispose();
            throw;
        }
    }

    private static async Task CloseWhenEndedAsync(MuxSession session, Stream stream)
    {
        await session.Completion.ConfigureAwait(false);
        await session.DisposeAsync().ConfigureAwait(false);
        await stream.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>A keep-alive pool whose connections are HTTP streams on <paramref name="session"/>.</summary>
    private HttpMessageInvoker CreateHttp(MuxSession session)
    {
        var handler = new SocketsHttpHandler
        {
            UseProxy = false,
            AllowAutoRedirect = false,
            AutomaticDecompression = DecompressionMethods.None,
            UseCookies = false,
            ActivityHeadersPropagator = null,
            PooledConnectionIdleTimeout = TimeSpan.FromSeconds(60),
            ConnectTimeout = _options.OpenTimeout,
            ConnectCallback = async (context, cancellationToken) =>
            {
                // One pool per scheme the forwarding edge's clients used (Cluster/PeerForwarder.cs names the destination).
                var scheme = context.DnsEndPoint.Host.StartsWith("https.", StringComparison.Ordinal) ? "https" : "http";
                return await OpenOnAsync(session, new StreamOpenRequest(StreamKind.Http, scheme, ""), cancellationToken).ConfigureAwait(false);
            },
        };
        return new HttpMessageInvoker(handler, disposeHandler: true);
    }

    public async ValueTask DisposeAsync()
    {
        Connected? current;
        lock (_lock)
        {
            _disposed = true;
            current = _current;
            _current = null;
        }
        if (current is not null)
        {
            current.Retire();
            await current.Session.DisposeAsync().ConfigureAwait(false);
        }
    }

    private sealed record Connected(MuxSession Session, HttpMessageInvoker Http)
    {
        public void Retire() => Http.Dispose();
    }

    private static partial class Log
    {
        [LoggerMessage(1770, LogLevel.Information, "Cluster: connected to edge {Peer}", EventName = "ClusterPeerConnected")]
        public static partial void Connected(ILogger logger, string peer);

        [LoggerMessage(1771, LogLevel.Warning, "Cluster: cannot reach edge {Peer}: {Message}; next try in {Seconds} s", EventName = "ClusterPeerDialFailed")]
        public static partial void DialFailed(ILogger logger, string peer, string message, double seconds);
    }
}
