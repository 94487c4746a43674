using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Warren.Agent.Services;
using Warren.Configuration;
using Warren.Protocol.Framing;
using Warren.Protocol.Session;
using Warren.Protocol.Streams;
using Warren.Protocol.Transport;
using Warren.Protocol.Tunnel;

namespace Warren.Agent.Connection;

/// <summary>
/// One of the agent's sessions to the edge, kept up forever: dial, handshake, authenticate, register, serve
/// streams; when the session ends, back off (1 s doubling to 60 s, full jitter) and do it again; after the edge's
/// GOAWAY, at once and then at a short pace for a while (<see cref="EdgeRestartPace"/>). A refused token is
/// no passing fault: the wait after a refusal is minutes (2.5-5 min, doubling to 30-60 min), and the agent's other
/// sessions do not try the token until one login succeeds (<see cref="LoginGate"/>).
/// </summary>
internal sealed partial class EdgeConnection(
    int index, AgentConfig config, EdgeDialer dialer, StreamDispatcher dispatcher, ServiceSet services, SessionOptions sessionOptions, LoginGate gate, ILogger logger) : IDisposable
{
    public void Dispose() => _registering.Dispose();

    private static readonly TimeSpan ControlTimeout = TimeSpan.FromSeconds(10);
    private readonly Backoff _backoff = new(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(60));
    private readonly Backoff _refusedBackoff = new(TimeSpan.FromMinutes(5), TimeSpan.FromMinutes(60), equalJitter: true);
    private readonly EdgeRestartPace _restartPace = new(TimeProvider.System);
    private volatile MuxSession? _session;
    private volatile IReadOnlyList<RegistrationResult> _registrations = [];

    public int Index => index;

    /// <summary>The live session, once authenticated and registered.</summary>
    public MuxSession? Session => _session;

    public IReadOnlyList<RegistrationResult> Registrations => _registrations;

    public int Reconnects { get; private set; }

    /// <summary>Sessions the edge asked to drain (GOAWAY) that still finish their streams while a new one serves.</summary>
    private readonly ConcurrentDictionary<MuxSession, Task> _draining = new();

    /// <summary>Sessions still finishing their streams after the edge's GOAWAY (the agent's own drain bounds them too).</summary>
    public IEnumerable<MuxSession> Draining => _draining.Keys;

    public async Task RunAsync(CancellationToken stopping)
    {
        try
        {
            await ReconnectLoopAsync(stopping).ConfigureAwait(false);
        }
        finally
        {
            await Task.WhenAll(_draining.Values).ConfigureAwait(false);
        }
    }

    private async Task ReconnectLoopAsync(CancellationToken stopping)
    {
        while (!stopping.IsCancellationRequested)
        {
            var ranFor = TimeSpan.Zero;
            TimeSpan? refusedWait = null;
            var movedOn = false;
            try
            {
                await gate.WaitAsync(index, stopping).ConfigureAwait(false);
                var started = TimeProvider.System.GetTimestamp();
                movedOn = await RunSessionAsync(stopping).ConfigureAwait(false);
                ranFor = TimeProvider.System.GetElapsedTime(started);
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
                return;
            }
            catch (TokenRefusedException ex)
            {
                gate.Refused();
                _restartPace.EdgeAnswered();
                refusedWait = _refusedBackoff.Next();
                Log.TokenRefused(logger, index, config.Edge, ex.Message, refusedWait.Value.TotalMinutes);
            }
            catch (AgentRejectedException ex)
            {
                _restartPace.EdgeAnswered();
                Log.Rejected(logger, index, ex.Message);
            }
            catch (Exception ex)
            {
                Log.ConnectFailed(logger, index, config.Edge, ex.Message);
            }
            if (stopping.IsCancellationRequested)
            {
                return;
            }
            if (movedOn && ranFor > TimeSpan.FromSeconds(1))
            {
                // The edge drains the session (it restarts, or a new edge process took over its sockets): the next
                // session starts now, while the old one finishes its streams, so no request waits for a backoff.
                // Should the edge not be back yet, the next attempts come at a short pace, not a growing backoff.
                _restartPace.EdgeWentAway();
                Reconnects++;
                continue;
            }
            if (ranFor > TimeSpan.FromSeconds(30))
            {
                _backoff.Reset(); // it was a working session: come back quickly
            }
            var wait = refusedWait ?? _restartPace.Next() ?? _backoff.Next();
            Reconnects++;
            Log.Reconnecting(logger, index, wait.TotalSeconds);
            try
            {
                await Task.Delay(wait, stopping).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <summary>
    /// Runs one session until it ends; true when the edge sent GOAWAY and the session was left to drain in the
    /// background (docs/operations.md, "Restarts and upgrades"), so the caller connects again at once.
    /// </summary>
    private async Task<bool> RunSessionAsync(CancellationToken stopping)
    {
        var (transport, link) = await dialer.DialAsync(stopping).ConfigureAwait(false);
        MuxSession session;
        try
        {
            session = await MuxSession.StartAsync(StreamTransport.Create(transport, link), SessionRole.Client, sessionOptions, logger,
                abortTransport: transport.Dispose, name: $"agent[{index}]->{config.Edge}", cancellationToken: stopping).ConfigureAwait(false);
        }
        catch
        {
            await transport.DisposeAsync().ConfigureAwait(false);
            throw;
        }
        Task accepting = Task.CompletedTask, controlLoop = Task.CompletedTask;
        CancellationTokenRegistration goingAway = default;
        try
        {
            var control = await OpenControlAsync(session, stopping).ConfigureAwait(false);
            // The control stream ends with the session's GOAWAY (either side), so it never holds up a drain.
            goingAway = session.GoingAway.Register(control.CompleteWrites);
            controlLoop = ReadControlAsync(control, session);
            _session = session;
            _backoff.Reset();
            _refusedBackoff.Reset();
            _restartPace.EdgeAnswered();
            Log.Connected(logger, index, config.Edge, SealedLinkStream.Describe(transport), _registrations.Count(r => r.Ok), _registrations.Count);
            using var stop = stopping.Register(() => session.GoAway("agent shutting down"));
            accepting = AcceptLoopAsync(session);
            await WhenCancelledAsync(session.GoingAway).ConfigureAwait(false);
            _control = null;
            if (!stopping.IsCancellationRequested && !session.Closing.IsCancellationRequested)
            {
                _session = null;
                Log.EdgeGoingAway(logger, index);
                _draining[session] = FinishAsync(session, transport, accepting, controlLoop, goingAway);
                return true;
            }
        }
        catch
        {
            _session = null;
            _control = null;
            await session.DisposeAsync().ConfigureAwait(false); // closes it now: nothing waits for its streams
            await FinishAsync(session, transport, accepting, controlLoop, goingAway).ConfigureAwait(false);
            throw;
        }
        _session = null;
        await FinishAsync(session, transport, accepting, controlLoop, goingAway).ConfigureAwait(false);
        return false;
    }

    /// <summary>Waits for the session's streams to end (or its drain to time out), then lets its transport go.</summary>
    private async Task FinishAsync(MuxSession session, Stream transport, Task accepting, Task controlLoop, CancellationTokenRegistration goingAway)
    {
        try
        {
            var info = await session.Completion.ConfigureAwait(false);
            await accepting.ConfigureAwait(false);
            await controlLoop.ConfigureAwait(false);
            if (info is { Code: ErrorCode.Unauthorized, ByPeer: true })
            {
                gate.Refused(); // revoked: only the prober finds out whether it still is
            }
            Log.SessionEnded(logger, index, LogText.Bound(info.ToString(), 512));
        }
        finally
        {
            await goingAway.DisposeAsync().ConfigureAwait(false);
            await session.DisposeAsync().ConfigureAwait(false);
            await transport.DisposeAsync().ConfigureAwait(false);
            _draining.TryRemove(session, out _);
        }
    }

    private static Task WhenCancelledAsync(CancellationToken token)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        token.UnsafeRegister(static s => ((TaskCompletionSource)s!).TrySetResult(), done);
        return done.Task;
    }

    /// <summary>Opens the control stream, authenticates, and registers every configured service (docs/protocol.md §10.2).</summary>
    private async Task<MuxStream> OpenControlAsync(MuxSession session, CancellationToken stopping)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stopping);
        timeout.CancelAfter(ControlTimeout);
        var stream = await session.OpenStreamAsync(new StreamOpenRequest(StreamKind.Control, "", "").Encode(), timeout.Token).ConfigureAwait(false);
        var channel = new ControlChannel(stream);
        await channel.SendAsync(new ControlMessage
        {
            Type = ControlMessage.Auth,
            Token = config.Token,
            Agent = config.Name,
            Version = typeof(EdgeConnection).Assembly.GetName().Version?.ToString(),
        }, timeout.Token).ConfigureAwait(false);
        var auth = await channel.ReceiveAsync(timeout.Token).ConfigureAwait(false);
        if (auth is not { Type: ControlMessage.AuthResult, Ok: true })
        {
            throw auth is { Type: ControlMessage.AuthResult, Error: ControlMessage.InvalidTokenError }
                ? new TokenRefusedException(auth.Error)
                : new AgentRejectedException("the edge refused the login: " + LogText.Bound(auth?.Error ?? "no answer", 256));
        }
        gate.Accepted();
        // Under the same gate as a reload's registration: a reload that publishes a new set while this session
        // registers either is read here or registers again right after.
        await _registering.WaitAsync(timeout.Token).ConfigureAwait(false);
        try
        {
            _registrations = await RegisterCheckedAsync(services.Published, list => RegisterAsync(channel, list, timeout.Token)).ConfigureAwait(false);
            _control = channel;
        }
        finally
        {
            _registering.Release();
        }
        return stream;
    }

    /// <summary>
    /// Registers <paramref name="list"/> through <paramref name="register"/>. An edge older than policies ignores them
    /// and would publish the service open (docs/protocol.md §10.2): such services are withdrawn by registering again
    /// without them, and reported as refused.
    /// </summary>
    private async Task<IReadOnlyList<RegistrationResult>> RegisterCheckedAsync(
        IReadOnlyList<ServiceConfig> list, Func<IReadOnlyList<ServiceConfig>, Task<IReadOnlyList<RegistrationResult>>> register)
    {
        var results = await register(list).ConfigureAwait(false);
        var unenforced = list.Where(s => s.Policy is not null && results.Any(r => r.Name == s.Name && r.Ok && r.PolicyEnforced != true)).Select(s => s.Name).ToHashSet();
        if (unenforced.Count > 0)
        {
            results = await register([.. list.Where(s => !unenforced.Contains(s.Name))]).ConfigureAwait(false);
            results = [.. results, .. unenforced.Select(name => new RegistrationResult { Name = name, Ok = false, Error = "this edge does not enforce service policies (it is older than they are); the service was withdrawn rather than published without its policy" })];
        }
        foreach (var result in results.Where(r => !r.Ok))
        {
            Log.ServiceRefused(logger, LogText.Bound(result.Name, 80), LogText.Bound(result.Error ?? "refused", 512));
        }
        return results;
    }

    private static async Task<IReadOnlyList<RegistrationResult>> RegisterAsync(ControlChannel channel, IReadOnlyList<ServiceConfig> services, CancellationToken cancellationToken)
    {
        await channel.SendAsync(new ControlMessage { Type = ControlMessage.Register, Services = [.. services.Select(ToRegistration)] }, cancellationToken).ConfigureAwait(false);
        var registered = await channel.ReceiveAsync(cancellationToken).ConfigureAwait(false);
        if (registered is { Type: ControlMessage.RegisterResult, Error: { } refusedWhole })
        {
            throw new AgentRejectedException("the edge refused the registration: " + LogText.Bound(refusedWhole, 512));
        }
        return registered is { Type: ControlMessage.RegisterResult, Results: { } results }
            ? results
            : throw new AgentRejectedException("the edge did not answer the registration");
    }

    private ControlChannel? _control;
    private TaskCompletionSource<IReadOnlyList<RegistrationResult>>? _pendingRegistration;
    private readonly SemaphoreSlim _registering = new(1, 1);

    /// <summary>
    /// Hot reload: registers <see cref="ServiceSet.Published"/> again over the live session's control stream (a
    /// <c>register</c> replaces the session's registration as a whole, docs/protocol.md §10.2). Services that did not
    /// change keep their routes and streams; removed ones stop taking new streams. Returns false when no session is up
    /// (the next one registers the new set anyway).
    /// </summary>
    public async Task<bool> RegisterAgainAsync(CancellationToken cancellationToken)
    {
        await _registering.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_control is not { } channel || ((MuxStream)channel.Stream).ResetCode is not null)
            {
                return false;
            }
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(ControlTimeout);
            _registrations = await RegisterCheckedAsync(services.Published, async list =>
            {
                var answer = new TaskCompletionSource<IReadOnlyList<RegistrationResult>>(TaskCreationOptions.RunContinuationsAsynchronously);
                Volatile.Write(ref _pendingRegistration, answer);
                await channel.SendAsync(new ControlMessage { Type = ControlMessage.Register, Services = [.. list.Select(ToRegistration)] }, timeout.Token).ConfigureAwait(false);
                return await answer.Task.WaitAsync(timeout.Token).ConfigureAwait(false);
            }).ConfigureAwait(false);
            Log.Registered(logger, index, _registrations.Count(r => r.Ok), _registrations.Count);
            return true;
        }
        finally
        {
            _registering.Release();
        }
    }

    /// <summary>Reads what the edge sends on the control stream after registration, until it ends; then closes our side.</summary>
    private async Task ReadControlAsync(MuxStream control, MuxSession session)
    {
        await using var _ = control.ConfigureAwait(false);
        var channel = new ControlChannel(control);
        try
        {
            while (await channel.ReceiveAsync(session.Closing).ConfigureAwait(false) is { } message)
            {
                if (message is { Type: ControlMessage.RegisterResult, Results: { } results }
                    && Interlocked.Exchange(ref _pendingRegistration, null) is { } answer)
                {
                    answer.TrySetResult(results); // the edge's answer to a registration sent on reload
                    continue;
                }
                Log.UnexpectedControl(logger, index, LogText.Bound(message.Type, 32));
            }
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or ProtocolException)
        {
            // The session is ending; its own close reason is logged.
        }
        finally
        {
            Interlocked.Exchange(ref _pendingRegistration, null)?.TrySetException(new IOException("the session to the edge ended before it answered the registration"));
        }
    }

    private static ServiceRegistration ToRegistration(ServiceConfig service) => new()
    {
        Name = service.Name,
        Kind = service.IsTcp ? "tcp" : "http",
        Hostnames = service.Hostnames,
        PathPrefix = service.PathPrefix,
        Port = service.Port,
        MaxConcurrency = service.MaxConcurrency,
        ResponseTimeoutMs = (long)service.ResponseTimeout.TotalMilliseconds,
        MaxRequestBodySize = service.MaxRequestBodySize,
        Private = service.Private ? true : null,
        Policy = service.Policy is { } policy ? PolicyJson.Serialize(policy) : null,
    };

    private async Task AcceptLoopAsync(MuxSession session)
    {
        while (true)
        {
            MuxStream stream;
            try
            {
                stream = await session.AcceptStreamAsync().ConfigureAwait(false);
            }
            catch (SessionClosedException)
            {
                return;
            }
            // Each stream runs on its own; a slow backend never holds up the accept loop.
            _ = ServeOneAsync(stream, session.Closing);
        }
    }

    private async Task ServeOneAsync(MuxStream stream, CancellationToken sessionClosing)
    {
        try
        {
            await dispatcher.ServeAsync(stream, sessionClosing).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            Log.StreamFailed(logger, stream.Id, ex.Message);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(120, LogLevel.Information, "Session {Index} connected to {Edge} over {Link}: {Ok}/{Total} services registered", EventName = "Connected")]
        public static partial void Connected(ILogger logger, int index, string edge, string link, int ok, int total);

        [LoggerMessage(121, LogLevel.Warning, "Session {Index}: cannot reach the edge at {Edge}: {Message}", EventName = "ConnectFailed")]
        public static partial void ConnectFailed(ILogger logger, int index, string edge, string message);

        [LoggerMessage(122, LogLevel.Information, "Session {Index}: reconnecting in {Seconds:0.0} s", EventName = "Reconnecting")]
        public static partial void Reconnecting(ILogger logger, int index, double seconds);

        [LoggerMessage(123, LogLevel.Error, "Session {Index}: {Message}", EventName = "Rejected")]
        public static partial void Rejected(ILogger logger, int index, string message);

        [LoggerMessage(128, LogLevel.Error, "Session {Index}: the edge at {Edge} refused this agent's token ({Reason}). It stays refused until the token is fixed: check token in agent.yaml, or create one on the edge with `warren token create`. Trying again in {Minutes:0.#} min", EventName = "TokenRefused")]
        public static partial void TokenRefused(ILogger logger, int index, string edge, string reason, double minutes);

        [LoggerMessage(124, LogLevel.Error, "Service {Service} was refused by the edge: {Reason}", EventName = "ServiceRefused")]
        public static partial void ServiceRefused(ILogger logger, string service, string reason);

        [LoggerMessage(128, LogLevel.Information, "Session {Index}: the edge is going away (restart or upgrade); connecting a new session while this one finishes its streams", EventName = "EdgeGoingAway")]
        public static partial void EdgeGoingAway(ILogger logger, int index);

        [LoggerMessage(129, LogLevel.Information, "Session {Index} registered its services again (reload): {Ok}/{Total} accepted", EventName = "RegisteredAgain")]
        public static partial void Registered(ILogger logger, int index, int ok, int total);

        [LoggerMessage(125, LogLevel.Information, "Session {Index} ended: {Reason}", EventName = "SessionEnded")]
        public static partial void SessionEnded(ILogger logger, int index, string reason);

        [LoggerMessage(127, LogLevel.Warning, "Session {Index}: ignored control message '{Type}' from the edge", EventName = "UnexpectedControl")]
        public static partial void UnexpectedControl(ILogger logger, int index, string type);

        [LoggerMessage(126, LogLevel.Debug, "Stream {StreamId} failed: {Message}", EventName = "StreamFailed")]
        public static partial void StreamFailed(ILogger logger, uint streamId, string message);
    }
}

/// <summary>The edge answered, and said no (malformed or oversized registration), or did not answer the control protocol.</summary>
internal sealed class AgentRejectedException(string message) : Exception(message);

/// <summary>The edge answered the login with <see cref="ControlMessage.InvalidTokenError"/>: the token is wrong, unknown or revoked.</summary>
internal sealed class TokenRefusedException(string reason) : Exception(reason);
