using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging;
using Warren.Edge.Limits;
using Warren.Edge.Telemetry;
using Warren.Protocol.Transport;

namespace Warren.Edge.Agents;

/// <summary>
/// The agents listener: accepts TCP connections, runs TLS straight over the socket, and hands the session's
/// transport to <see cref="AgentConnectionHandler"/>. The agent link is the tunnel's hot path and speaks no HTTP, so
/// it does not go through Kestrel: Kestrel's transport puts a pipe and a dedicated I/O thread between the socket and
/// TLS, one thread hop each way on every frame batch (docs/performance.md). Here a read of the session is a read
/// of the SslStream, and a flush is a write to it, on the caller's thread.
/// </summary>
internal sealed partial class AgentListener : IAsyncDisposable
{
    /// <summary>A TLS handshake that takes longer is dropped (Kestrel's default for its listeners too).</summary>
    private static readonly TimeSpan TlsHandshakeTimeout = TimeSpan.FromSeconds(10);

    private readonly Hosting.AcceptingListener _listener;
    private readonly SslStreamCertificateContext? _certificate;
    private readonly List<SslApplicationProtocol>? _sealedRecords;
    private readonly AgentConnectionHandler _handler;
    private readonly AgentListenerGuard _guard;
    private readonly EdgeMetrics? _metrics;
    private readonly ILogger _logger;

    private AgentListener(Socket socket, X509Certificate2? certificate, bool sealedRecords, AgentConnectionHandler handler, AgentListenerGuard guard,
        EdgeMetrics? metrics, int maxConnections, ILogger logger)
    {
        _sealedRecords = SealedLinkStream.Offer(sealedRecords);
        _listener = new Hosting.AcceptingListener(socket, maxConnections, ServeAsync, (remote, max) => Log.TooManyConnections(logger, remote, max));
        _certificate = certificate is null ? null : SslStreamCertificateContext.Create(certificate, additionalCertificates: null);
        _handler = handler;
        _guard = guard;
        _metrics = metrics;
        _logger = logger;
    }

    /// <summary>The bound port (the configured one, or the one chosen for port 0).</summary>
    public int Port => ((IPEndPoint)_listener.LocalEndPoint).Port;

    /// <summary>
    /// Binds <paramref name="endPoint"/> and starts accepting. <paramref name="certificate"/> null means a plain TCP link
    /// (insecure); <paramref name="sealedRecords"/> false keeps every agent's link on TLS (agent_tls.sealed_records).
    /// </summary>
    public static AgentListener Start(IPEndPoint endPoint, X509Certificate2? certificate, bool sealedRecords, AgentConnectionHandler handler, AgentListenerGuard guard,
        EdgeMetrics? metrics, int maxConnections, ILogger logger, Hosting.ListenSockets sockets)
    {
        var socket = sockets.Bind("agents", endPoint); // or the previous edge's, in an upgrade (Hosting/ListenSockets.cs)
        try
        {
            socket.Listen(512);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
        var listener = new AgentListener(socket, certificate, sealedRecords, handler, guard, metrics, maxConnections, logger);
        listener._listener.Start(); // the accept loop (Hosting/AcceptingListener.cs): ServeAsync below per connection
        return listener;
    }

    private async Task ServeAsync(Socket client, EndPoint? remote)
    {
        await Task.Yield(); // off the accept loop
        _metrics?.Connections.WithLabels("agents").Inc();
        _metrics?.ConnectionsOpen.WithLabels("agents").Inc();
        try
        {
            // A blocked address, or one over its connection cap, gets no TLS handshake: refusing it costs one accept,
            // not a handshake's CPU. The admission holds the connection's place and its login until it ends.
            using var admission = _guard.TryAdmit(remote);
            if (admission is null)
            {
                return;
            }
            client.NoDelay = true;
            client.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.KeepAlive, true);
            var network = new LinkStream(client, ownsSocket: false);
            Stream stream = network;
            if (_certificate is not null)
            {
                var tls = network.StartTls(leaveInnerStreamOpen: true);
                stream = tls;
                using var handshake = CancellationTokenSource.CreateLinkedTokenSource(_listener.Stopping);
                handshake.CancelAfter(TlsHandshakeTimeout);
                try
                {
                    await tls.AuthenticateAsServerAsync(new SslServerAuthenticationOptions
                    {
                        ServerCertificateContext = _certificate,
                        ClientCertificateRequired = false,
                        // An agent that offers sealed records gets them unless they are off here; one that offers
                        // nothing stays on TLS.
                        ApplicationProtocols = _sealedRecords,
                    }, handshake.Token).ConfigureAwait(false);
                    stream = await SealedLinkStream.SwitchIfAgreedAsync(tls, network, isClient: false, ownsSocket: false, handshake.Token).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is AuthenticationException or IOException or OperationCanceledException or SocketException)
                {
                    Log.TlsFailed(_logger, remote?.ToString(), ex is OperationCanceledException ? $"no TLS handshake within {TlsHandshakeTimeout.TotalSeconds:0} s" : ex.Message);
                    await tls.DisposeAsync().ConfigureAwait(false);
                    return;
                }
            }
            await using (stream.ConfigureAwait(false))
            {
                var transport = StreamTransport.Create(stream, network);
                await _handler.ServeAsync(transport, remote, SealedLinkStream.Describe(stream), abort: client.Dispose, _listener.Stopping).ConfigureAwait(false);
            }
        }
        catch (Exception ex)
        {
            Log.ConnectionFailed(_logger, remote?.ToString(), ex.Message);
        }
        finally
        {
            _metrics?.ConnectionsOpen.WithLabels("agents").Dec();
            _listener.Release(client);
        }
    }

    /// <summary>Stops accepting; connections already open stay (their sessions are drained by the edge).</summary>
    public void StopAccepting() => _listener.StopAccepting();

    /// <summary>Stops accepting and cuts every connection still open; waits for their handlers to end.</summary>
    public ValueTask DisposeAsync() => _listener.DisposeAsync();

    private static partial class Log
    {
        [LoggerMessage(221, LogLevel.Information, "Agent connection from {Remote}: TLS failed: {Message}", EventName = "AgentTlsFailed")]
        public static partial void TlsFailed(ILogger logger, string? remote, string message);

        [LoggerMessage(222, LogLevel.Warning, "Refused an agent connection from {Remote}: {Max} agent connections are open (limits.max_connections)", EventName = "AgentConnectionsFull")]
        public static partial void TooManyConnections(ILogger logger, string? remote, int max);

        [LoggerMessage(223, LogLevel.Warning, "Agent connection from {Remote} failed: {Message}", EventName = "AgentConnectionFailed")]
        public static partial void ConnectionFailed(ILogger logger, string? remote, string message);
    }
}
