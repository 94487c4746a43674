using System.Globalization;
using System.Net;
using System.Runtime.CompilerServices;
using Microsoft.Extensions.Logging;
using Warren.Configuration;
using Warren.Edge.Agents;
using Warren.Edge.Routing;
using Warren.Edge.Tcp;
using Warren.Edge.Telemetry;
using Warren.Edge.Tokens;
using Warren.Net;
using Warren.Protocol.Framing;
using Warren.Protocol.Session;
using Warren.Protocol.Streams;
using Warren.Protocol.Tunnel;

namespace Warren.Edge.Connect;

/// <summary>
/// Serves a <c>warren connect</c> session (docs/protocol.md §10.4, docs/operations.md "Private services"): once its
/// token is granted the private service it names, every CONNECT stream it opens is checked as a TCP client of that
/// service would be (shield, per-client and per-service caps, the service's policy, quota), then spliced onto a TCP
/// stream on a session of the agent that publishes the service. Flow control is the two streams' own: the splice reads
/// one only as fast as the other takes the bytes.
/// </summary>
internal sealed partial class ConnectHandler(
    EdgeState state, TokenValidator tokens, TcpConnectionLimits limits, TimeSpan idleTimeout, ILogger<ConnectHandler> logger)
{
    /// <summary>Metrics, access log and request log for each stream, as TCP connections (docs/observability.md).</summary>
    public TcpTelemetry? Telemetry { get; init; }

    /// <summary>The private service's policy (ip lists, connection_rate, max_connections_per_ip), as for TCP clients.</summary>
    public Policy.TcpPolicyGate? Policy { get; init; }

    /// <summary>The abuse shield: a banned address's session is refused, and so is each stream it opens.</summary>
    public Shield.AbuseShield? Shield { get; init; }

    /// <summary><c>limits.max_connect_streams_per_session</c>: streams one connect session may have open at once.</summary>
    public int MaxStreamsPerSession { get; init; } = new EdgeLimitsConfig().MaxConnectStreamsPerSession;

    /// <summary>
    /// Runs <paramref name="connect"/> (authenticated, not yet answered) until it ends: refuses it when its token is
    /// not granted <paramref name="service"/>, else answers auth_result with <c>connect</c> echoed and serves its streams.
    /// </summary>
    public async Task ServeAsync(AgentSession connect, ControlChannel channel, string service, CancellationToken stopping)
    {
        var address = (connect.Remote as IPEndPoint)?.Address;
        var refusal = !ServiceRules.IsName(service) ? ServiceRules.NameProblem(service, "service")
            : connect.Grant!.CheckConnect(service)
            ?? (Shield?.IsBanned(address) == true ? "this address is banned by the edge's abuse shield" : null);
        if (refusal is not null)
        {
            Log.Refused(logger, connect.Remote?.ToString(), connect.TokenName, LogText.Bound(service, 80), refusal);
            using var answer = CancellationTokenSource.CreateLinkedTokenSource(stopping);
            answer.CancelAfter(TimeSpan.FromSeconds(5));
            await AgentConnectionHandler.RefuseAsync(connect.Mux, channel, refusal, "connect refused", answer.Token).ConfigureAwait(false);
            return;
        }
        // Only now may the client open streams: what it opened before its login was refused (and counted as abuse).
        // Before the answer goes out, not after: the client opens its first stream as soon as it reads the answer, and
        // one that arrived before this call was refused (a user's first connection reset, seen in CI).
        connect.Mux.AcceptIncomingStreams();
        await channel.SendAsync(new ControlMessage
        {
            Type = ControlMessage.AuthResult,
            Ok = true,
            Session = connect.Id.ToString(CultureInfo.InvariantCulture),
            Connect = service,
        }, stopping).ConfigureAwait(false);
        state.Add(connect);
        Log.Connected(logger, connect.ToString(), connect.TokenName, service);
        try
        {
            var control = ReadControlAsync(connect, channel);
            var open = new StrongBox<int>(0);
            while (true)
            {
                MuxStream stream;
                try
                {
                    stream = await connect.Mux.AcceptStreamAsync(stopping).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is SessionClosedException or OperationCanceledException)
                {
                    break;
                }
                if (Interlocked.Increment(ref open.Value) > MaxStreamsPerSession)
                {
                    Interlocked.Decrement(ref open.Value);
                    Log.TooManyStreams(logger, connect.ToString(), MaxStreamsPerSession);
                    stream.Abort(ErrorCode.RefusedStream);
                    stream.Dispose();
                    continue;
                }
                _ = ServeStreamAsync(connect, stream, service, address, open);
            }
            await control.ConfigureAwait(false);
        }
        finally
        {
            state.Remove(connect);
            Log.Disconnected(logger, connect.ToString(), (await connect.Mux.Completion.ConfigureAwait(false)).ToString());
        }
    }

    /// <summary>The client sends nothing on its control stream after auth: it ends with the session (either side's GOAWAY).</summary>
    private static async Task ReadControlAsync(AgentSession connect, ControlChannel channel)
    {
        var stream = (MuxStream)channel.Stream;
        await using var _ = stream.ConfigureAwait(false);
        using var goingAway = connect.Mux.GoingAway.Register(stream.CompleteWrites);
        try
        {
            if (await channel.ReceiveAsync(connect.Mux.Closing).ConfigureAwait(false) is { } message)
            {
                connect.Mux.Abort(ErrorCode.ProtocolError, $"unexpected control message '{LogText.Bound(message.Type, 32)}' from a connect client");
            }
        }
        catch (Exception ex) when (ex is ProtocolException or MuxException or IOException or OperationCanceledException)
        {
            if (ex is ProtocolException p)
            {
                connect.Mux.Abort(p.Code, p.Message);
            }
        }
    }

    private async Task ServeStreamAsync(AgentSession connect, MuxStream stream, string service, IPAddress? address, StrongBox<int> open)
    {
        try
        {
            await using var _ = stream.ConfigureAwait(false);
            await ServeStreamCoreAsync(connect, stream, service, address).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is MuxException or IOException or OperationCanceledException or ObjectDisposedException)
        {
            Log.StreamFailed(logger, connect.ToString(), service, ex.Message);
        }
        finally
        {
            Interlocked.Decrement(ref open.Value);
        }
    }

    private async Task ServeStreamCoreAsync(AgentSession connect, MuxStream stream, string service, IPAddress? address)
    {
        StreamOpenRequest request;
        try
        {
            request = StreamOpenRequest.Decode(stream.Metadata.Span);
        }
        catch (ProtocolException ex)
        {
            Log.BadStream(logger, connect.ToString(), ex.Message);
            stream.Abort(ErrorCode.ProtocolError);
            return;
        }
        if (request.Kind != StreamKind.Connect || request.Service != service)
        {
            // A connect session reaches the one service it logged in for (docs/protocol.md §10.4).
            Log.BadStream(logger, connect.ToString(), $"a {request.Kind} stream for '{LogText.Bound(request.Service, 80)}' on a session for '{service}'");
            stream.Abort(request.Kind == StreamKind.Connect ? ErrorCode.Unauthorized : ErrorCode.ProtocolError);
            return;
        }
        // The grant as it is now: edge.yaml reloads and the token store change it without ending the session.
        if (tokens.Grants.FirstOrDefault(g => g.Name == connect.TokenName) is not { } grant || grant.CheckConnect(service) is not null)
        {
            Log.Refused(logger, connect.Remote?.ToString(), connect.TokenName, service, $"token '{connect.TokenName}' is no longer granted private service '{service}'");
            stream.Abort(ErrorCode.Unauthorized);
            return;
        }
        if (state.HandedOver)
        {
            // This edge handed its sockets to a new one (an upgrade) and drains; the publishing agents are moving there.
            // The GOAWAY goes first, so the client takes the refusal for the drain's and opens the stream again on its
            // next session, at the new edge, instead of resetting its local connection (docs/protocol.md §10.4).
            connect.Mux.GoAway("this edge handed over to a new one");
            Log.HandedOver(logger, connect.ToString(), service);
            stream.Abort(ErrorCode.RefusedStream);
            return;
        }
        if (state.Routes.MatchPrivate(service) is not { } entry)
        {
            Log.NoService(logger, connect.ToString(), service);
            stream.Abort(ErrorCode.UnknownService);
            return;
        }
        await ServeTcpClientAsync(stream, entry, address, connect.Remote?.ToString() ?? "", connect.ToString(), connect.Mux.Closing).ConfigureAwait(false);
    }

    /// <summary>
    /// <paramref name="stream"/> is one TCP client of <paramref name="entry"/> at <paramref name="address"/>: a CONNECT
    /// stream, or a TCP connection another edge of the cluster forwarded here (Cluster/PeerListener.cs). Checked as a
    /// client on the service's port is (the abuse shield, drain or maintenance, the TCP caps, the grace queue, the
    /// policy, the quota), then spliced onto a TCP stream of the agent; every refusal is a reset of <paramref name="stream"/>
    /// before any ACCEPT (docs/protocol.md §10.4). <paramref name="from"/> names the client's session in the log.
    /// </summary>
    internal async Task ServeTcpClientAsync(MuxStream stream, ServiceEntry entry, IPAddress? address, string clientText, string from, CancellationToken closing)
    {
        if (Shield?.IsBanned(address) == true)
        {
            Shield.Metrics?.Refused(Warren.Edge.Shield.ShieldRefusal.Tcp);
            stream.Abort(ErrorCode.Unauthorized);
            return;
        }
        if (entry.Control is not null)
        {
            stream.Abort(ErrorCode.RefusedStream); // drained or in maintenance (Tcp/TcpServiceControl.cs)
            return;
        }
        using var perIp = address is null ? null : limits.PerIp.TryAcquire(address, entry.Id);
        var rejection = address is not null && perIp is null ? ClientRejection.PerIpLimit
            : !entry.TryAddTcpConnection(limits.PerService) ? ClientRejection.ServiceLimit
            : (ClientRejection?)null;
        if (rejection is { } reason)
        {
            Telemetry?.Rejected(entry, reason);
            stream.Abort(ErrorCode.Overloaded);
            return;
        }
        try
        {
            await SpliceAsync(stream, entry, address, clientText, from, closing).ConfigureAwait(false);
        }
        finally
        {
            entry.RemoveTcpConnection();
        }
    }

    private async Task SpliceAsync(MuxStream stream, ServiceEntry entry, IPAddress? address, string clientText, string from, CancellationToken closing)
    {
        // No usable session (the agent restarts, or drains): wait in the service's grace queue for one.
        var agent = entry.PickSession() ?? await entry.WaitForSessionAsync(state.Routes.Grace, closing).ConfigureAwait(false);
        using var telemetry = Telemetry?.Begin(entry, agent, address);
        if (agent is null)
        {
            telemetry?.Fail(ErrorKind.NoSession);
            Log.NoService(logger, from, entry.Name);
            stream.Abort(ErrorCode.RefusedStream);
            return;
        }
        using var admitted = entry.Policy is { } policy && Policy is { } gate ? gate.Admit(entry, policy, address) : null;
        if (admitted is null && entry.Policy is not null && Policy is not null)
        {
            telemetry?.Fail(ErrorKind.PolicyDenied);
            stream.Abort(ErrorCode.Unauthorized);
            return;
        }
        if (Telemetry?.Recorder?.RefuseTcp(entry) is not null)
        {
            telemetry!.Fail(ErrorKind.PolicyDenied);
            telemetry.OverQuota = true;
            stream.Abort(ErrorCode.Unauthorized);
            return;
        }
        MuxStream backend;
        try
        {
            backend = await entry.OpenStreamAsync(agent, StreamKind.Tcp, clientText, state.Routes.Grace, closing).ConfigureAwait(false);
        }
        catch (MuxException ex)
        {
            // The agent's answer (dial failed, timed out, overloaded) goes on to the client as the same reset code.
            telemetry?.Fail(TcpTelemetry.Classify(ex));
            stream.Abort(ex is SessionClosedException ? ErrorCode.RefusedStream : ex.Code);
            Log.StreamFailed(logger, from, entry.Name, ex.Message);
            return;
        }
        await using var backendScope = backend.ConfigureAwait(false);
        // Accepted only once the agent has a connected backend, so every failure before it reaches the client as a code.
        stream.Accept();
        var idled = false;
        var spliced = await Splice.RunAsync(
            stream, backend.CompleteWrites,
            backend, stream.CompleteWrites,
            idleTimeout, TimeProvider.System, closing, () => idled = true).ConfigureAwait(false);
        telemetry?.Completed(spliced.AToB, spliced.BToA);
        if (idled)
        {
            stream.Abort(ErrorCode.IdleTimeout);
            backend.Abort(ErrorCode.IdleTimeout);
            telemetry?.Fail(ErrorKind.Timeout);
        }
        else if (spliced.Failed || stream.ResetCode is not null || backend.ResetCode is not null)
        {
            // A client that reset is its own doing (a client abort); a cut on the agent's side is a reset.
            var byClient = spliced.FailedSide == SpliceSide.A || (spliced.FailedSide == SpliceSide.None && stream.ResetCode is not null);
            telemetry?.Fail(byClient ? ErrorKind.ClientAbort : ErrorKind.Reset);
            // Said in the log even with the access log off: a connect client only sees a reset, and an upgrade's
            // reset was once untraceable from the logs (which side, and why). Bounded: a session's close reason is
            // the peer's text.
            Log.SpliceReset(logger, from, entry.Name, byClient ? "the client's side" : "the agent's side",
                spliced.Error is { } error ? LogText.Bound(error.Message, 512) : $"reset: client {stream.ResetCode?.ToString() ?? "-"}, agent {backend.ResetCode?.ToString() ?? "-"}");
            // A reset on either side reaches the other as a reset (the agent resets its backend connection, the client
            // its local one), never as a clean end of stream (docs/protocol.md §10.3).
            stream.Abort(ErrorCode.Cancel);
            backend.Abort(ErrorCode.Cancel);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(230, LogLevel.Warning, "warren connect from {Remote} with token '{Token}' to private service '{Service}' refused: {Reason}", EventName = "ConnectRefused")]
        public static partial void Refused(ILogger logger, string? remote, string token, string service, string reason);

        [LoggerMessage(231, LogLevel.Information, "Connect session {Session} (token '{Token}') reaches private service {Service}", EventName = "ConnectSessionStarted")]
        public static partial void Connected(ILogger logger, string session, string token, string service);

        [LoggerMessage(232, LogLevel.Information, "Connect session {Session} ended: {Reason}", EventName = "ConnectSessionEnded")]
        public static partial void Disconnected(ILogger logger, string session, string reason);

        [LoggerMessage(233, LogLevel.Warning, "Connect session {Session}: stream refused, {Max} are open (limits.max_connect_streams_per_session)", EventName = "ConnectTooManyStreams")]
        public static partial void TooManyStreams(ILogger logger, string session, int max);

        [LoggerMessage(234, LogLevel.Warning, "Connect session {Session}: stream refused: {Message}", EventName = "ConnectBadStream")]
        public static partial void BadStream(ILogger logger, string session, string message);

        [LoggerMessage(238, LogLevel.Information, "Connect session {Session}: a stream for private service {Service} is refused unprocessed, to be opened again at the new edge this one handed over to", EventName = "ConnectHandedOver")]
        public static partial void HandedOver(ILogger logger, string session, string service);

        [LoggerMessage(235, LogLevel.Warning, "Connect session {Session}: no agent publishes private service {Service} now", EventName = "ConnectNoService")]
        public static partial void NoService(ILogger logger, string session, string service);

        [LoggerMessage(236, LogLevel.Information, "Connect session {Session}: connection to {Service} ended: {Message}", EventName = "ConnectStreamFailed")]
        public static partial void StreamFailed(ILogger logger, string session, string service, string message);

        [LoggerMessage(237, LogLevel.Information, "Connect session {Session}: connection to {Service} reset, first by {Side}: {Message}", EventName = "ConnectSpliceReset")]
        public static partial void SpliceReset(ILogger logger, string session, string service, string side, string message);
    }
}
