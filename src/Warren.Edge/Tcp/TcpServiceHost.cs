using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Warren.Edge.Routing;
using Warren.Edge.Telemetry;
using Warren.Net;
using Warren.Protocol.Framing;
using Warren.Protocol.Session;
using Warren.Protocol.Tunnel;

namespace Warren.Edge.Tcp;

/// <summary>
/// Raw TCP services: while a service is registered, the edge listens on its port and splices every client
/// connection onto a tunnel stream. The listener closes when the last session serving the port goes away.
/// </summary>
internal sealed partial class TcpServiceHost : IAsyncDisposable
{
    private readonly RouteTable _routes;
    private readonly IPAddress _bindAddress;
    private readonly TimeSpan _idleTimeout;
    private readonly ILogger _logger;
    private readonly ConcurrentDictionary<int, Listener> _listeners = new();
    private readonly CancellationTokenSource _stopping = new();
    private int _disposed;

    public TcpServiceHost(RouteTable routes, IPAddress bindAddress, TimeSpan idleTimeout, ILogger logger)
    {
        _routes = routes;
        _bindAddress = bindAddress;
        _idleTimeout = idleTimeout;
        _logger = logger;
        routes.TcpServiceChanged += OnServiceChanged;
    }

    public IReadOnlyCollection<int> Ports => [.. _listeners.Keys];

    /// <summary>Metrics and access log for each connection (docs/observability.md); null in tests that do not need them.</summary>
    public TcpTelemetry? Telemetry { get; init; }

    /// <summary>Checks a TCP service's policy when a client connects (docs/policy.md); null: policies are not enforced (tests).</summary>
    public Policy.TcpPolicyGate? Policy { get; init; }

    /// <summary>The abuse shield: a banned client's connection is reset at accept (docs/policy.md, "Abuse shield"); null: none (tests).</summary>
    public Shield.AbuseShield? Shield { get; init; }

    /// <summary>Where each port's listening socket comes from: bound here, or taken over from the previous edge in an upgrade.</summary>
    public Hosting.ListenSockets Sockets { get; init; } = new();

    /// <summary>Connection caps per client address and per service.</summary>
    public TcpConnectionLimits Limits { get; init; } = new(new Warren.Configuration.EdgeLimitsConfig());

    private sealed record Listener(Socket Socket, Task AcceptLoop)
    {
        /// <summary>Cancels the close planned when the port's last session left (the grace queue keeps it open meanwhile).</summary>
        public CancellationTokenSource? PendingClose { get; set; }
    }

    private void OnServiceChanged(ServiceEntry service, bool added)
    {
        if (service.Registration.Port is not { } port)
        {
            return;
        }
        if (!added)
        {
            // The last session left: the port keeps listening through the grace (connections wait in the grace queue
            // for the agent to come back) and closes only if nobody serves it by then.
            if (_listeners.TryGetValue(port, out var listening))
            {
                ScheduleClose(port, listening, service.Name);
            }
            return;
        }
        Listen(port, service.Name);
    }

    /// <summary>Cluster (docs/cluster.md, "Forwarding"): clients of ports other edges hold connect here too and go there.</summary>
    public Cluster.PeerTcp? Peers
    {
        get;
        set
        {
            field = value;
            value?.PortsChanged += OnPeerPortsChanged;
            OnPeerPortsChanged();
        }
    }

    private void OnPeerPortsChanged()
    {
        foreach (var port in Peers?.Ports ?? [])
        {
            Listen(port, "(cluster)");
        }
        foreach (var (port, listening) in _listeners)
        {
            if (Peers?.Holds(port) != true && _routes.MatchPort(port) is not { Sessions.IsEmpty: false }
                && listening.PendingClose is not { IsCancellationRequested: false })
            {
                ScheduleClose(port, listening, "(cluster)");
            }
        }
    }

    private void Listen(int port, string name)
    {
        if (_listeners.TryGetValue(port, out var existing))
        {
            existing.PendingClose?.Cancel(); // back within the grace: the same listener goes on
            return;
        }
        if (Volatile.Read(ref _stoppedAccepting))
        {
            return;
        }
        Socket socket;
        try
        {
            socket = Sockets.Bind("tcp:" + port.ToString(System.Globalization.CultureInfo.InvariantCulture), new IPEndPoint(_bindAddress, port));
        }
        catch (IOException ex)
        {
            Log.BindFailed(_logger, name, port, ex.InnerException?.Message ?? ex.Message);
            return;
        }
        try
        {
            socket.Listen(512);
        }
        catch (SocketException ex)
        {
            Sockets.Close(socket);
            Log.BindFailed(_logger, name, port, ex.Message);
            return;
        }
        _listeners[port] = new Listener(socket, AcceptLoopAsync(socket, port));
        Log.Listening(_logger, name, port);
    }

    private void ScheduleClose(int port, Listener listening, string service)
    {
        var pending = new CancellationTokenSource();
        listening.PendingClose?.Cancel();
        listening.PendingClose = pending;
        _ = CloseAfterGraceAsync(port, listening, service, _routes.Grace.Timeout, pending.Token);
    }

    private async Task CloseAfterGraceAsync(int port, Listener listener, string service, TimeSpan grace, CancellationToken cancelled)
    {
        try
        {
            await Task.Delay(grace, cancelled).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            return;
        }
        if (_routes.MatchPort(port) is { Sessions.IsEmpty: false } || Peers?.Holds(port) == true)
        {
            return;
        }
        if (_listeners.TryRemove(new KeyValuePair<int, Listener>(port, listener)))
        {
            Sockets.Close(listener.Socket);
            Log.Closed(_logger, service, port);
        }
    }

    /// <summary>
    /// The edge is draining: every TCP port stops accepting now, so a new client is refused (or, during an upgrade,
    /// accepted by the new edge process on the same socket) instead of being accepted and closed. Open connections
    /// go on until they end or the drain times out.
    /// </summary>
    public void StopAccepting()
    {
        Volatile.Write(ref _stoppedAccepting, true);
        foreach (var (port, listener) in _listeners)
        {
            if (_listeners.TryRemove(new KeyValuePair<int, Listener>(port, listener)))
            {
                listener.PendingClose?.Cancel();
                Sockets.Close(listener.Socket);
            }
        }
    }

    private bool _stoppedAccepting;

    private async Task AcceptLoopAsync(Socket listener, int port)
    {
        while (!_stopping.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await listener.AcceptAsync(_stopping.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException or OperationCanceledException)
            {
                return;
            }
            client.NoDelay = true;
            _ = ServeAsync(client, port);
        }
    }

    private async Task ServeAsync(Socket client, int port)
    {
        using var _ = client;
        if (Shield?.Refuse(client) == true)
        {
            return;
        }
        var service = _routes.MatchPort(port);
        if (Peers is { } peers && peers.Takes(port, service))
        {
            await peers.ForwardAsync(client, port, _stopping.Token).ConfigureAwait(false); // another edge holds it
            return;
        }
        if (service is null)
        {
            await ServeAdmittedAsync(client, port, null).ConfigureAwait(false);
            return;
        }
        if (TcpServiceControl.Refuses(client, service))
        {
            return; // drained or in maintenance (Tcp/TcpServiceControl.cs)
        }
        var address = (client.RemoteEndPoint as IPEndPoint)?.Address;
        using var perIp = address is null ? null : Limits.PerIp.TryAcquire(address, service.Id);
        var rejection = address is not null && perIp is null ? ClientRejection.PerIpLimit
            : !service.TryAddTcpConnection(Limits.PerService) ? ClientRejection.ServiceLimit
            : (ClientRejection?)null;
        if (rejection is { } reason)
        {
            // Closed with a reset before any byte and counted, not logged: a flood must not become a log flood.
            client.LingerState = new LingerOption(true, 0);
            Telemetry?.Rejected(service, reason);
            return;
        }
        try
        {
            await ServeAdmittedAsync(client, port, service).ConfigureAwait(false);
        }
        finally
        {
            service.RemoveTcpConnection();
        }
    }

    private async Task ServeAdmittedAsync(Socket client, int port, ServiceEntry? service)
    {
        // No usable session (the agent restarts, or drains): wait in the service's grace queue for one.
        var session = service is null ? null : service.PickSession() ?? await service.WaitForSessionAsync(_routes.Grace, _stopping.Token).ConfigureAwait(false);
        using var telemetry = Telemetry?.Begin(service, session, client, port);
        if (service is null || session is null)
        {
            // Refused, not served: an RST (linger 0) says so, where a FIN would read as a service that accepted and
            // then had nothing to say.
            client.LingerState = new LingerOption(true, 0);
            telemetry?.Fail(ErrorKind.NoSession);
            Log.NoSession(_logger, port);
            return;
        }
        using var admitted = service.Policy is { } policy && Policy is { } gate ? gate.Admit(service, policy, (client.RemoteEndPoint as IPEndPoint)?.Address) : null;
        if (admitted is null && service.Policy is not null && Policy is not null)
        {
            // Refused by the policy: a reset, so the client sees a refusal, not an empty but clean connection.
            telemetry?.Fail(ErrorKind.PolicyDenied);
            client.LingerState = new LingerOption(true, 0);
            return;
        }
        if (Telemetry?.Recorder?.RefuseTcp(service) is { } overQuota)
        {
            // The token's quota is used up (docs/console.md, "Quotas"): refused with a reset, like a policy refusal.
            telemetry!.Fail(ErrorKind.PolicyDenied);
            telemetry.OverQuota = true;
            client.LingerState = new LingerOption(true, 0);
            Log.OverQuota(_logger, service.Name, overQuota);
            return;
        }
        try
        {
            var stream = await service.OpenStreamAsync(session, StreamKind.Tcp, client.RemoteEndPoint?.ToString() ?? "", _routes.Grace, _stopping.Token).ConfigureAwait(false);
            await using var streamScope = stream.ConfigureAwait(false);
            var network = new NetworkStream(client, ownsSocket: false);
            await using var networkScope = network.ConfigureAwait(false);
            var idled = false;
            // A drain's timeout (Admin/ServiceControlApi.cs) ends the client's input: the backend gets end-of-stream,
            // and the connection closes both ways as it closes its side, a FIN each way, never a reset.
            using var drained = service.DrainExpired.Register(static c => ShutdownReceive((Socket)c!), client);
            var spliced = await Splice.RunAsync(
                network, stream.CompleteWrites,
                stream, () => ShutdownSend(client),
                _idleTimeout, TimeProvider.System, _stopping.Token, () => idled = true).ConfigureAwait(false);
            if (spliced.Failed)
            {
                // The backend crashed or the client vanished: each side sees a reset, never a clean end of stream.
                stream.Abort(ErrorCode.Cancel);
                client.LingerState = new LingerOption(true, 0);
                // A client that reset is its own doing: a client abort, apart from service errors, as an HTTP
                // client's (docs/observability.md); a cut on the tunnel's side (backend reset, agent gone) is a reset.
                var byClient = spliced.FailedSide == SpliceSide.A;
                telemetry?.Fail(byClient ? ErrorKind.ClientAbort : ErrorKind.Reset);
                if (byClient)
                {
                    Log.ClientReset(_logger, service.Name, port, spliced.Error?.Message);
                }
                else
                {
                    Log.TunnelReset(_logger, service.Name, port, stream.ResetCode?.ToString() ?? "none", spliced.Error?.Message);
                }
            }
            telemetry?.Completed(spliced.AToB, spliced.BToA);
            if (idled)
            {
                // limits.idle_timeout: both sides go (the client socket when this returns, the agent's backend
                // connection on the reset), counted as a timeout.
                stream.Abort(ErrorCode.IdleTimeout);
                telemetry?.Fail(ErrorKind.Timeout);
                Log.Idle(_logger, service.Name, port, _idleTimeout.TotalSeconds);
            }
            else if (stream.ResetCode is not null)
            {
                // The tunnel stream was cut (agent gone, link lost, backend reset): reset the client's connection
                // too (linger 0 makes the close an RST), so a cut is never passed off as a clean end of the stream.
                client.LingerState = new LingerOption(true, 0);
                if (!spliced.Failed)
                {
                    Log.TunnelReset(_logger, service.Name, port, stream.ResetCode.Value.ToString(), "after the splice ended"); // a failed splice said so above
                }
            }
        }
        catch (Exception ex) when (ex is MuxException or IOException or OperationCanceledException)
        {
            telemetry?.Fail(TcpTelemetry.Classify(ex));
            Log.StreamFailed(_logger, service.Name, ex.Message);
        }
    }

    private static void ShutdownReceive(Socket socket)
    {
        try
        {
            socket.Shutdown(SocketShutdown.Receive);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
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

    public async ValueTask DisposeAsync()
    {
        // EdgeServer.StopAsync disposes this host, and EdgeServer.DisposeAsync stops again: the second call is a no-op.
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        _routes.TcpServiceChanged -= OnServiceChanged;
        await _stopping.CancelAsync().ConfigureAwait(false);
        foreach (var listener in _listeners.Values)
        {
            Sockets.Close(listener.Socket);
            await listener.AcceptLoop.ConfigureAwait(false);
        }
        _listeners.Clear();
        _stopping.Dispose();
    }

    private static partial class Log
    {
        [LoggerMessage(400, LogLevel.Information, "TCP service {Service} listening on port {Port}", EventName = "TcpListening")]
        public static partial void Listening(ILogger logger, string service, int port);

        [LoggerMessage(401, LogLevel.Error, "TCP service {Service}: cannot listen on port {Port}: {Message}", EventName = "TcpBindFailed")]
        public static partial void BindFailed(ILogger logger, string service, int port, string message);

        [LoggerMessage(402, LogLevel.Information, "TCP service {Service}: port {Port} closed (no session serves it)", EventName = "TcpClosed")]
        public static partial void Closed(ILogger logger, string service, int port);

        [LoggerMessage(403, LogLevel.Warning, "TCP connection on port {Port} dropped: no agent session serves it", EventName = "TcpNoSession")]
        public static partial void NoSession(ILogger logger, int port);

        [LoggerMessage(405, LogLevel.Information, "TCP service {Service}: connection on port {Port} closed after {Seconds} s without a byte either way (limits.idle_timeout)", EventName = "TcpIdleTimeout")]
        public static partial void Idle(ILogger logger, string service, int port, double seconds);

        [LoggerMessage(406, LogLevel.Debug, "TCP service {Service}: connection refused: {Reason}", EventName = "TcpOverQuota")]
        public static partial void OverQuota(ILogger logger, string service, string reason);

        [LoggerMessage(407, LogLevel.Debug, "TCP service {Service}: the client on port {Port} reset its connection; the tunnel stream is reset too: {Message}", EventName = "TcpClientReset")]
        public static partial void ClientReset(ILogger logger, string service, int port, string? message);

        [LoggerMessage(408, LogLevel.Information, "TCP service {Service}: the tunnel side of a connection on port {Port} was cut (stream reset code {Code}); the client's connection is reset too: {Message}", EventName = "TcpTunnelReset")]
        public static partial void TunnelReset(ILogger logger, string service, int port, string code, string? message);

        [LoggerMessage(404, LogLevel.Information, "TCP service {Service}: connection ended: {Message}", EventName = "TcpStreamFailed")]
        public static partial void StreamFailed(ILogger logger, string service, string message);
    }
}
