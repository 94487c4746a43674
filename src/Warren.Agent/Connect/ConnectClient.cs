using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Warren.Agent.Connection;
using Warren.Configuration;
using Warren.Net;
using Warren.Protocol.Framing;
using Warren.Protocol.Session;
using Warren.Protocol.Streams;
using Warren.Protocol.Transport;
using Warren.Protocol.Tunnel;

namespace Warren.Agent.Connect;

/// <summary>
/// <c>warren connect</c> (docs/operations.md, "Private services"; docs/protocol.md §10.4): one session to the edge,
/// authenticated for one private service, and a local listener whose every connection becomes a CONNECT stream on it.
/// The edge splices each stream onto the agent that publishes the service. The session is kept up (reconnects on
/// backoff, at once after the edge's GOAWAY); a local connection waits for it at most
/// <see cref="ConnectClientOptions.SessionWait"/>. A refused login is lasting and ends the client.
/// </summary>
public sealed partial class ConnectClient : IAsyncDisposable
{
    private readonly AgentConfig _edge;
    private readonly string _service;
    private readonly IPEndPoint _listen;
    private readonly ConnectClientOptions _options;
    private readonly SessionOptions _sessionOptions;
    private readonly EdgeDialer _dialer;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stopping = new();
    private readonly Backoff _backoff = new(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(30));
    private readonly SemaphoreSlim _slots;
    private Socket? _listener;
    private volatile MuxSession? _session;
    private TaskCompletionSource _sessionChanged = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Task _running = Task.CompletedTask;
    private int _disposed;

    /// <param name="edge">Where the edge is and how to log in: <c>edge</c>, <c>token</c>, <c>edge_fingerprint</c>, <c>insecure</c>, <c>name</c>, <c>session</c>.</param>
    /// <param name="service">The private service to reach.</param>
    /// <param name="listen">The local address to listen on (port 0: any free port, see <see cref="LocalEndPoint"/>).</param>
    /// <param name="loggerFactory">Where the client logs.</param>
    /// <param name="options">Limits and timeouts; defaults when null.</param>
    public ConnectClient(AgentConfig edge, string service, IPEndPoint listen, ILoggerFactory loggerFactory, ConnectClientOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(edge);
        ArgumentNullException.ThrowIfNull(listen);
        ArgumentNullException.ThrowIfNull(loggerFactory);
        if (!ServiceRules.IsName(service))
        {
            throw new ArgumentException(ServiceRules.NameProblem(service, "service"), nameof(service));
        }
        _options = options ?? new ConnectClientOptions();
        _options.Validate();
        (_edge, _service, _listen) = (edge, service, listen);
        _logger = loggerFactory.CreateLogger("Warren.Connect");
        _dialer = new EdgeDialer(edge, _options.DialTimeout, _logger);
        _sessionOptions = _options.Session.Clone();
        _sessionOptions.KeepAliveInterval = edge.Session.KeepaliveInterval;
        _sessionOptions.KeepAliveTimeout = edge.Session.KeepaliveTimeout;
        _slots = new SemaphoreSlim(_options.MaxConnections, _options.MaxConnections);
    }

    /// <summary>The bound local address, once started.</summary>
    public IPEndPoint? LocalEndPoint => _listener?.LocalEndPoint as IPEndPoint;

    /// <summary>Ends when the client is disposed, or faults with <see cref="ConnectRefusedException"/> when a later login is refused.</summary>
    public Task Completion => _running;

    /// <summary>
    /// Logs in (once; a refusal throws <see cref="ConnectRefusedException"/>, an unreachable edge its error), then
    /// listens on the local address and serves connections until disposed.
    /// </summary>
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _stopping.Token);
        var first = await ConnectAsync(linked.Token).ConfigureAwait(false);
        var listener = new Socket(_listen.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            listener.Bind(_listen);
            listener.Listen(512);
        }
        catch
        {
            listener.Dispose();
            await first.Session.DisposeAsync().ConfigureAwait(false);
            await first.Transport.DisposeAsync().ConfigureAwait(false);
            throw;
        }
        _listener = listener;
        SetSession(first.Session);
        Log.Listening(_logger, LocalEndPoint!.ToString(), _service, _edge.Edge);
        _running = Task.WhenAll(KeepSessionAsync(first), AcceptLoopAsync(listener));
    }

    /// <summary>Dials, starts the session and logs in for the service (docs/protocol.md §10.4).</summary>
    private async Task<(MuxSession Session, Stream Transport)> ConnectAsync(CancellationToken cancellationToken)
    {
        var (transport, link) = await _dialer.DialAsync(cancellationToken).ConfigureAwait(false);
        MuxSession? session = null;
        try
        {
            session = await MuxSession.StartAsync(StreamTransport.Create(transport, link), SessionRole.Client, _sessionOptions, _logger,
                abortTransport: transport.Dispose, name: $"connect->{_edge.Edge}", cancellationToken: cancellationToken).ConfigureAwait(false);
            session.RefuseIncomingStreams(); // the edge opens nothing toward a connect client
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(TimeSpan.FromSeconds(10));
            var control = await session.OpenStreamAsync(new StreamOpenRequest(StreamKind.Control, "", "").Encode(), timeout.Token).ConfigureAwait(false);
            var channel = new ControlChannel(control);
            await channel.SendAsync(new ControlMessage
            {
                Type = ControlMessage.Auth,
                Token = _edge.Token,
                Agent = _edge.Name,
                Version = typeof(ConnectClient).Assembly.GetName().Version?.ToString(),
                Connect = _service,
            }, timeout.Token).ConfigureAwait(false);
            var answer = await channel.ReceiveAsync(timeout.Token).ConfigureAwait(false);
            if (answer is not { Type: ControlMessage.AuthResult, Ok: true })
            {
                throw new ConnectRefusedException("the edge refused: " + LogText.Bound(answer?.Error ?? "the session ended without an answer", 512));
            }
            if (answer.Connect != _service)
            {
                // An edge older than warren connect took this for an agent's login and would refuse every stream.
                throw new ConnectRefusedException("the edge does not support warren connect (it is older than private services); upgrade it");
            }
            _ = ReadControlAsync(session, control);
            return (session, transport);
        }
        catch
        {
            if (session is not null)
            {
                await session.DisposeAsync().ConfigureAwait(false);
            }
            await transport.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>The edge says nothing more on the control stream; it ends with the session's GOAWAY, and closes then.</summary>
    private static async Task ReadControlAsync(MuxSession session, MuxStream control)
    {
        await using var _ = control.ConfigureAwait(false);
        using var goingAway = session.GoingAway.Register(control.CompleteWrites);
        var channel = new ControlChannel(control);
        try
        {
            while (await channel.ReceiveAsync(session.Closing).ConfigureAwait(false) is not null)
            {
            }
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or ProtocolException)
        {
            // The session is ending; its close reason is logged.
        }
    }

    private void SetSession(MuxSession? session)
    {
        _session = session;
        Interlocked.Exchange(ref _sessionChanged, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
    }

    /// <summary>Keeps a session up: when one ends or goes away, a new one is made (its streams finish on the old one).</summary>
    private async Task KeepSessionAsync((MuxSession Session, Stream Transport) current)
    {
        var stopping = _stopping.Token;
        while (true)
        {
            var session = current.Session;
            await Task.WhenAny(session.Completion, WhenCancelledAsync(session.GoingAway), WhenCancelledAsync(stopping)).ConfigureAwait(false);
            SetSession(null);
            _ = FinishAsync(current);
            if (stopping.IsCancellationRequested)
            {
                return;
            }
            Log.SessionLost(_logger, session.IsGoingAway && !session.Completion.IsCompleted ? "the edge is going away" : "the session ended");
            var wait = TimeSpan.Zero;
            while (true)
            {
                try
                {
                    await Task.Delay(wait, stopping).ConfigureAwait(false);
                    current = await ConnectAsync(stopping).ConfigureAwait(false);
                    _backoff.Reset();
                    SetSession(current.Session);
                    Log.Reconnected(_logger, _edge.Edge);
                    break;
                }
                catch (OperationCanceledException) when (stopping.IsCancellationRequested)
                {
                    return;
                }
                catch (ConnectRefusedException ex)
                {
                    Log.Refused(_logger, ex.Message);
                    await _stopping.CancelAsync().ConfigureAwait(false);
                    _listener?.Dispose();
                    throw;
                }
                catch (Exception ex)
                {
                    wait = _backoff.Next();
                    Log.ConnectFailed(_logger, _edge.Edge, ex.Message, wait.TotalSeconds);
                }
            }
        }
    }

    private static async Task FinishAsync((MuxSession Session, Stream Transport) ended)
    {
        await ended.Session.Completion.ConfigureAwait(false);
        await ended.Session.DisposeAsync().ConfigureAwait(false);
        await ended.Transport.DisposeAsync().ConfigureAwait(false);
    }

    private static Task WhenCancelledAsync(CancellationToken token)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        token.UnsafeRegister(static s => ((TaskCompletionSource)s!).TrySetResult(), done);
        return done.Task;
    }

    private async Task AcceptLoopAsync(Socket listener)
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
            if (!_slots.Wait(0))
            {
                // Reset before any byte, as the edge refuses a TCP client over its caps.
                Log.TooManyConnections(_logger, _options.MaxConnections);
                client.LingerState = new LingerOption(true, 0);
                client.Dispose();
                continue;
            }
            _ = ServeAsync(client);
        }
    }

    /// <summary>A session now, or the next one within <see cref="ConnectClientOptions.SessionWait"/>; null when none comes.</summary>
    private async Task<MuxSession?> WaitForSessionAsync()
    {
        using var wait = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token);
        wait.CancelAfter(_options.SessionWait);
        while (true)
        {
            var changed = Volatile.Read(ref _sessionChanged).Task;
            if (_session is { IsGoingAway: false } session)
            {
                return session;
            }
            try
            {
                await changed.WaitAsync(wait.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return null;
            }
        }
    }

    private async Task ServeAsync(Socket client)
    {
        try
        {
            using var _ = client;
            var session = await WaitForSessionAsync().ConfigureAwait(false);
            if (session is null)
            {
                Log.NoSession(_logger, _options.SessionWait.TotalSeconds);
                client.LingerState = new LingerOption(true, 0);
                return;
            }
            MuxStream? stream = null;
            for (var attempt = 1; stream is null; attempt++)
            {
                try
                {
                    stream = await session.OpenStreamAsync(new StreamOpenRequest(StreamKind.Connect, _service, Address(client)).Encode(), _stopping.Token).ConfigureAwait(false);
                }
                catch (MuxException ex) when (attempt < 3 && session.IsGoingAway && (ex.Code == ErrorCode.RefusedStream || ex is SessionClosedException))
                {
                    // The edge went away (an upgrade, a restart) before it took this open: never processed, so it goes
                    // on the next session, as a connection accepted a moment later would (nothing was read yet).
                    if (await WaitForSessionAsync().ConfigureAwait(false) is not { } next)
                    {
                        Log.StreamRefused(_logger, _service, Explain(ex));
                        client.LingerState = new LingerOption(true, 0);
                        return;
                    }
                    session = next;
                }
                catch (MuxException ex)
                {
                    Log.StreamRefused(_logger, _service, Explain(ex));
                    client.LingerState = new LingerOption(true, 0);
                    return;
                }
            }
            await using var streamScope = stream.ConfigureAwait(false);
            var network = new NetworkStream(client, ownsSocket: false);
            await using var networkScope = network.ConfigureAwait(false);
            var spliced = await Splice.RunAsync(
                network, stream.CompleteWrites,
                stream, () => ShutdownSend(client),
                _options.IdleTimeout, TimeProvider.System, _stopping.Token).ConfigureAwait(false);
            if (spliced.Failed)
            {
                // The local client reset, or the stream was cut: each side sees a reset, never a clean end.
                stream.Abort(ErrorCode.Cancel);
                client.LingerState = new LingerOption(true, 0);
            }
            else if (stream.ResetCode is not null)
            {
                client.LingerState = new LingerOption(true, 0);
            }
        }
        catch (Exception ex) when (ex is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
        {
            Log.ConnectionFailed(_logger, ex.Message);
        }
        finally
        {
            _slots.Release();
        }
    }

    private static string Address(Socket client)
    {
        var text = client.RemoteEndPoint?.ToString() ?? "";
        return text.Length <= StreamOpenRequest.MaxClientAddressLength ? text : "";
    }

    /// <summary>What a refused stream's code means, for the log (docs/protocol.md §10.3, §10.4).</summary>
    internal static string Explain(MuxException ex) => ex.Code switch
    {
        ErrorCode.Unauthorized => "the edge refused it: this token is not (or no longer) granted the service, a policy or a quota refused this client (the edge's log says which)",
        ErrorCode.UnknownService => "no agent publishes the service now",
        ErrorCode.DialFailed => "the agent could not connect to the service's target",
        ErrorCode.DialTimeout => "the agent's connect to the service's target timed out",
        ErrorCode.Overloaded => "the service is at its connection limits",
        ErrorCode.RefusedStream => "the edge refused it (this session's limits.max_connect_streams_per_session, a drain, or no agent session within the grace)",
        _ => ex.Message,
    };

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
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        await _stopping.CancelAsync().ConfigureAwait(false);
        _listener?.Dispose();
        try
        {
            await _running.ConfigureAwait(false);
        }
        catch (ConnectRefusedException)
        {
            // Reported through Completion already.
        }
        if (_session is { } session)
        {
            await session.DisposeAsync().ConfigureAwait(false);
        }
        _listener = null;
        _slots.Dispose();
        _stopping.Dispose();
    }

    private static partial class Log
    {
        [LoggerMessage(150, LogLevel.Information, "Listening on {Local}: each connection reaches private service {Service} through {Edge}", EventName = "ConnectListening")]
        public static partial void Listening(ILogger logger, string local, string service, string edge);

        [LoggerMessage(151, LogLevel.Warning, "Connection to the edge lost ({Reason}); reconnecting", EventName = "ConnectSessionLost")]
        public static partial void SessionLost(ILogger logger, string reason);

        [LoggerMessage(152, LogLevel.Information, "Connected to the edge at {Edge} again", EventName = "ConnectReconnected")]
        public static partial void Reconnected(ILogger logger, string edge);

        [LoggerMessage(153, LogLevel.Error, "{Message}", EventName = "ConnectRefused")]
        public static partial void Refused(ILogger logger, string message);

        [LoggerMessage(154, LogLevel.Warning, "Cannot reach the edge at {Edge}: {Message}; trying again in {Seconds:0.0} s", EventName = "ConnectFailed")]
        public static partial void ConnectFailed(ILogger logger, string edge, string message, double seconds);

        [LoggerMessage(155, LogLevel.Warning, "Local connection reset: {Max} are open already (--max-connections)", EventName = "ConnectTooManyConnections")]
        public static partial void TooManyConnections(ILogger logger, int max);

        [LoggerMessage(156, LogLevel.Warning, "Local connection reset: no session to the edge within {Seconds} s", EventName = "ConnectNoSession")]
        public static partial void NoSession(ILogger logger, double seconds);

        [LoggerMessage(157, LogLevel.Warning, "Local connection to {Service} reset: {Reason}", EventName = "ConnectStreamRefused")]
        public static partial void StreamRefused(ILogger logger, string service, string reason);

        [LoggerMessage(158, LogLevel.Debug, "Local connection ended: {Message}", EventName = "ConnectConnectionFailed")]
        public static partial void ConnectionFailed(ILogger logger, string message);
    }
}
