using System.IO.Pipelines;
using System.Net;
using Microsoft.Extensions.Logging;
using Warren.Configuration;
using Warren.Edge.Forwarding;
using Warren.Edge.Limits;
using Warren.Edge.Routing;
using Warren.Edge.Tokens;
using Warren.Protocol.Framing;
using Warren.Protocol.Session;
using Warren.Protocol.Streams;
using Warren.Protocol.Tunnel;

namespace Warren.Edge.Agents;

/// <summary>
/// Serves one connection of the agents listener (<see cref="AgentListener"/>, after TLS): start a session, wait for
/// the control stream, authenticate, register services, and keep the session routed until it ends.
/// </summary>
internal sealed partial class AgentConnectionHandler(
    EdgeState state, TokenValidator tokens, AuthFailureLimiter failures, SessionOptions sessionOptions, TunnelHttpClient httpClient,
    EdgeServerOptions hosting, RegistrationHandler registrations, ILogger<AgentConnectionHandler> logger)
{
    /// <summary>Serves sessions of <c>warren connect</c> clients (Connect/ConnectHandler.cs); null: refused as agents are not.</summary>
    public Connect.ConnectHandler? Connects { get; init; }

    /// <summary>An agent that has not authenticated by then is dropped.</summary>
    private TimeSpan AuthTimeout => hosting.AuthTimeout;

    /// <summary>
    /// Runs the session over <paramref name="transport"/> until it ends. <paramref name="abort"/> tears the connection
    /// down at once (dead peer, blocked writes); <paramref name="stopping"/> ends the wait for a handshake or a login
    /// when the edge stops. <paramref name="link"/> says what the link runs on, for the log and the admin API.
    /// </summary>
    public async Task ServeAsync(IDuplexPipe transport, EndPoint? remote, string link, Action abort, CancellationToken stopping)
    {
        MuxSession session;
        try
        {
            session = await MuxSession.StartAsync(transport, SessionRole.Server, sessionOptions, logger,
                abortTransport: abort, name: $"edge<-{remote}", cancellationToken: stopping).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            Log.HandshakeFailed(logger, remote?.ToString(), ex.Message);
            return;
        }
        await using (session.ConfigureAwait(false))
        {
            AgentSession? agent = null;
            try
            {
                (agent, var control) = await AuthenticateAsync(session, remote, link, stopping).ConfigureAwait(false);
                if (agent is null)
                {
                    return;
                }
                state.Add(agent);
                // Keep-alive connections pooled on this session would hold its drain open until they idle out.
                var retiring = agent;
                using var retire = session.GoingAway.Register(() => httpClient.Retire(retiring));
                await ServeControlAsync(agent, control!).ConfigureAwait(false);
                await session.Completion.ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is ProtocolException or MuxException or IOException or OperationCanceledException)
            {
                // A session already ending (drained, or its link lost: the session logs why) ends its control stream
                // too; that is no failure of its own, and no warning.
                if (session.Closing.IsCancellationRequested)
                {
                    Log.ControlEnded(logger, agent?.ToString() ?? remote?.ToString(), LogText.Bound(ex.Message, 512));
                }
                else
                {
                    Log.ControlFailed(logger, agent?.ToString() ?? remote?.ToString(), LogText.Bound(ex.Message, 512));
                    session.Abort(ex is ProtocolException p ? p.Code : ErrorCode.ProtocolError, ex.Message);
                }
            }
            finally
            {
                if (agent is not null)
                {
                    state.Remove(agent);
                    Log.AgentDisconnected(logger, agent.ToString(), (await session.Completion.ConfigureAwait(false)).ToString());
                }
            }
        }
    }

    private async Task<(AgentSession?, ControlChannel?)> AuthenticateAsync(MuxSession session, EndPoint? remote, string link, CancellationToken stopping)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stopping, session.Closing);
        timeout.CancelAfter(AuthTimeout);
        MuxStream stream;
        try
        {
            stream = await session.AcceptStreamAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            return LoginCancelled();
        }
        var open = StreamOpenRequest.Decode(stream.Metadata.Span);
        if (open.Kind != StreamKind.Control)
        {
            throw new ProtocolException(ErrorCode.ProtocolError, "the first stream must be the control stream");
        }
        stream.Accept();
        // Agents may only have the edge open streams to them: anything they open after the control stream is refused
        // by the session, and counts against its abuse budget.
        session.RefuseIncomingStreams();
        var channel = new ControlChannel(stream);
        ControlMessage? hello;
        try
        {
            hello = await channel.ReceiveAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // A control stream and then silence is the same stalled login as no stream at all, and gets the same
            // clear answer (it used to end as a generic "operation was canceled" protocol error).
            return LoginCancelled();
        }
        if (hello is not { Type: ControlMessage.Auth })
        {
            throw new ProtocolException(ErrorCode.ProtocolError, "expected an auth message");
        }
        var grant = tokens.Validate(hello.Token);
        if (grant is null)
        {
            Log.AuthFailed(logger, remote?.ToString(), LogText.Bound(hello.Agent, MaxLoggedAgentName));
            state.CountAuthFailure();
            failures.RecordFailure(remote);
            await RefuseAsync(session, channel, ControlMessage.InvalidTokenError, "invalid token", timeout.Token).ConfigureAwait(false);
            return (null, null);
        }
        if (grant.MaxSessions is { } max && state.Sessions.Count(s => s.TokenName == grant.Name) >= max)
        {
            Log.TooManySessions(logger, grant.Name, max);
            await RefuseAsync(session, channel, $"token '{grant.Name}' already has its maximum of {max} sessions", "too many sessions for this token", timeout.Token).ConfigureAwait(false);
            return (null, null);
        }
        var agent = new AgentSession(session, grant.Name, Sanitize(hello.Agent), remote, DateTimeOffset.UtcNow) { Grant = grant, Link = link };
        if (hello.Connect is not null && Connects is { } connects)
        {
            failures.Succeeded(remote);
            await connects.ServeAsync(agent, channel, hello.Connect, stopping).ConfigureAwait(false); // warren connect (§10.4)
            return (null, null);
        }
        await channel.SendAsync(new ControlMessage { Type = ControlMessage.AuthResult, Ok = true, Session = agent.Id.ToString(System.Globalization.CultureInfo.InvariantCulture) }, timeout.Token).ConfigureAwait(false);
        Log.AgentAuthenticated(logger, agent.ToString(), grant.Name, link);
        failures.Succeeded(remote); // a live session is no longer a login in progress
        return (agent, channel);

        // Only the auth limit's own timer is a late login. When the edge stops or the session already ends (it logs
        // why), no login was late, so no warning.
        (AgentSession?, ControlChannel?) LoginCancelled()
        {
            if (!stopping.IsCancellationRequested && !session.Closing.IsCancellationRequested)
            {
                Log.AuthTimeout(logger, remote?.ToString(), AuthTimeout.TotalSeconds);
                session.Abort(ErrorCode.HandshakeTimeout, "no authentication within the time limit");
            }
            return (null, null);
        }
    }

    /// <summary>How long a refused agent gets to read the answer and hang up before the session is cut.</summary>
    private static readonly TimeSpan RefusalLinger = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Answers a refused login with auth_result ok=false and closes the session. An abort alone drops stream data
    /// still queued (its GOAWAY goes first and nothing follows), so the agent saw only "session closed" and logged
    /// that it could not reach the edge. A graceful GOAWAY lets the answer out; the session is then cut with
    /// <see cref="ErrorCode.Unauthorized"/> once the agent hangs up or <see cref="RefusalLinger"/> passes.
    /// </summary>
    internal static async Task RefuseAsync(MuxSession session, ControlChannel channel, string error, string reason, CancellationToken cancellationToken)
    {
        await channel.SendAsync(new ControlMessage { Type = ControlMessage.AuthResult, Ok = false, Error = error }, cancellationToken).ConfigureAwait(false);
        ((MuxStream)channel.Stream).CompleteWrites();
        session.GoAway(reason);
        try
        {
            await session.Completion.WaitAsync(RefusalLinger, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is TimeoutException or OperationCanceledException)
        {
        }
        session.Abort(ErrorCode.Unauthorized, reason);
    }

    /// <summary>Handles register messages for the life of the session (the first one, and re-registrations on reload).</summary>
    private async Task ServeControlAsync(AgentSession agent, ControlChannel channel)
    {
        var stream = (MuxStream)channel.Stream;
        await using var _ = stream.ConfigureAwait(false);
        // When either side goes away the control stream ends too, so it never holds up a drain.
        using var goingAway = agent.Mux.GoingAway.Register(stream.CompleteWrites);
        while (await channel.ReceiveAsync(agent.Mux.Closing).ConfigureAwait(false) is { } message)
        {
            if (message.Type != ControlMessage.Register || message.Services is null)
            {
                throw new ProtocolException(ErrorCode.ProtocolError, $"unexpected control message '{LogText.Bound(message.Type, 32)}'");
            }
            var answer = await registrations.HandleAsync(agent, message.Services, agent.Mux.Closing).ConfigureAwait(false);
            await channel.SendAsync(answer, agent.Mux.Closing).ConfigureAwait(false);
        }
    }

    /// <summary>How much of an unauthenticated agent's self-chosen name reaches the log (docs/security.md, "Logs and metrics").</summary>
    private const int MaxLoggedAgentName = 64;

    private static string Sanitize(string? name) =>
        string.IsNullOrWhiteSpace(name) ? "agent" : new string([.. name.Where(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.').Take(64)]);

    private static partial class Log
    {
        [LoggerMessage(200, LogLevel.Information, "Agent handshake from {Remote} failed: {Message}", EventName = "AgentHandshakeFailed")]
        public static partial void HandshakeFailed(ILogger logger, string? remote, string message);

        [LoggerMessage(201, LogLevel.Warning, "Agent from {Remote} presented an invalid token (agent name '{Agent}')", EventName = "AgentAuthFailed")]
        public static partial void AuthFailed(ILogger logger, string? remote, string? agent);

        [LoggerMessage(202, LogLevel.Information, "Agent {Agent} authenticated with token '{Token}' over {Link}", EventName = "AgentAuthenticated")]
        public static partial void AgentAuthenticated(ILogger logger, string agent, string token, string link);

        [LoggerMessage(205, LogLevel.Information, "Agent {Agent} disconnected: {Reason}", EventName = "AgentDisconnected")]
        public static partial void AgentDisconnected(ILogger logger, string agent, string reason);

        [LoggerMessage(206, LogLevel.Warning, "Agent from {Remote} did not authenticate within {Seconds} s; dropped", EventName = "AgentAuthTimeout")]
        public static partial void AuthTimeout(ILogger logger, string? remote, double seconds);

        [LoggerMessage(209, LogLevel.Warning, "Token '{Token}' already has its maximum of {Max} sessions; refused another", EventName = "AgentTooManySessions")]
        public static partial void TooManySessions(ILogger logger, string token, int max);

        [LoggerMessage(212, LogLevel.Debug, "Agent {Agent}: control channel ended with its session: {Message}", EventName = "AgentControlEnded")]
        public static partial void ControlEnded(ILogger logger, string? agent, string message);

        [LoggerMessage(207, LogLevel.Warning, "Agent {Agent}: control channel failed: {Message}", EventName = "AgentControlFailed")]
        public static partial void ControlFailed(ILogger logger, string? agent, string message);
    }
}
