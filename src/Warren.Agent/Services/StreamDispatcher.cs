using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Warren.Net;
using Warren.Protocol.Framing;
using Warren.Protocol.Streams;
using Warren.Protocol.Tunnel;

namespace Warren.Agent.Services;

/// <summary>
/// Serves the streams the edge opens: find the named service (never an address from the wire), wait for a
/// concurrency slot, dial its target, accept the stream, and splice bytes both ways.
/// </summary>
internal sealed partial class StreamDispatcher(ServiceSet services, TimeProvider time, ILogger logger)
{
    /// <summary>Safety net for spliced connections nobody closes; the edge enforces the configured idle timeouts.</summary>
    private static readonly TimeSpan SpliceIdleTimeout = TimeSpan.FromMinutes(10);

    public IReadOnlyDictionary<string, LocalService> Services => services;

    /// <summary>Per-service counters (Telemetry/AgentMetrics.cs); null when not measured.</summary>
    public Telemetry.AgentMetrics? Metrics { get; init; }

    /// <summary>Fires at the agent's drain_timeout (WarrenAgent.StopAsync): the TCP streams still open end cleanly.</summary>
    public CancellationToken DrainExpired { get; init; }

    public async Task ServeAsync(MuxStream stream, CancellationToken cancellationToken)
    {
        await using var _ = stream.ConfigureAwait(false);
        StreamOpenRequest request;
        try
        {
            request = StreamOpenRequest.Decode(stream.Metadata.Span);
        }
        catch (ProtocolException ex)
        {
            Log.BadOpen(logger, ex.Message);
            stream.Abort(ErrorCode.ProtocolError);
            return;
        }
        if (request.Kind is StreamKind.Control or StreamKind.Connect || !services.TryGetValue(request.Service, out var service)
            || (request.Kind == StreamKind.Tcp) != service.Config.IsTcp)
        {
            Metrics?.UnknownService.Inc();
            Log.UnknownService(logger, request.Service, request.Kind);
            stream.Abort(ErrorCode.UnknownService);
            return;
        }
        var metrics = Metrics?.For(service.Config.Name);
        // The edge resets the stream once no request wants it (its client went away; the edge's HTTP client keeps a
        // connection attempt up to 5 s for other requests first). A stream still queued for a slot, or dialing,
        // then stops instead of taking the slot and dialing the backend for nobody (RELIABILITY (a) D3).
        using var work = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, stream.Aborted);
        metrics?.Queued.Inc();
        bool acquired;
        try
        {
            acquired = await service.TryAcquireAsync(work.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (stream.Aborted.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            Log.Abandoned(logger, service.Config.Name, "waiting for a slot");
            return;
        }
        finally
        {
            metrics?.Queued.Dec();
        }
        if (!acquired)
        {
            metrics?.Overloaded.Inc();
            Log.Overloaded(logger, service.Config.Name, service.Config.MaxConcurrency);
            stream.Abort(ErrorCode.Overloaded);
            return;
        }
        try
        {
            Stream? target;
            ErrorCode error;
            try
            {
                (target, error) = await service.DialAsync(request.ClientAddress, work.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stream.Aborted.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
            {
                Log.Abandoned(logger, service.Config.Name, "dialing the target");
                return;
            }
            (error switch { ErrorCode.NoError => metrics?.DialOk, ErrorCode.DialTimeout => metrics?.DialTimeout, _ => metrics?.DialFailed })?.Inc();
            if (target is null)
            {
                Log.DialFailed(logger, service.Config.Name, service.Config.Target.ToString(), error);
                stream.Abort(error);
                return;
            }
            await using (target.ConfigureAwait(false))
            {
                stream.Accept();
                // At the drain's timeout a TCP stream ends cleanly: the backend's input ends, the edge's client gets a
                // FIN and closes, and that close reaches the backend (BackendConnection.EndInput).
                using var drained = request.Kind == StreamKind.Tcp ? DrainExpired.Register(static t => BackendConnection.EndInput((Stream)t!), target) : default;
                var spliced = await Splice.RunAsync(
                    stream, () => ShutdownSend(target),
                    target, stream.CompleteWrites,
                    SpliceIdleTimeout, time, cancellationToken).ConfigureAwait(false);
                if (spliced.Failed)
                {
                    // The backend crashed (or the edge reset the stream): the edge must see a reset, never a clean
                    // end; disposing alone sends a FIN when the edge had already half-closed. A stream the edge reset
                    // (its client reset or vanished, the session ended) resets the backend connection too.
                    if (stream.ResetCode is not null)
                    {
                        BackendConnection.Reset(target);
                    }
                    stream.Abort(ErrorCode.Cancel);
                    if (spliced.FailedSide == SpliceSide.B)
                    {
                        Log.BackendReset(logger, service.Config.Name, request.Kind, spliced.Error?.Message);
                    }
                    else
                    {
                        Log.EdgeReset(logger, service.Config.Name, request.Kind, stream.ResetCode?.ToString() ?? "none", spliced.Error?.Message);
                    }
                }
                metrics?.Served.Inc();
            }
        }
        finally
        {
            // The slot frees only when the backend connection is closed: a client that went away leaves no ghost.
            service.Release();
        }
    }

    private static void ShutdownSend(Stream target)
    {
        try
        {
            if (target is NetworkStream network)
            {
                network.Socket.Shutdown(SocketShutdown.Send);
            }
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            // Already closed: nothing to half-close.
        }
    }

    private static partial class Log
    {
        [LoggerMessage(110, LogLevel.Warning, "Refused a stream with malformed metadata: {Message}", EventName = "BadOpen")]
        public static partial void BadOpen(ILogger logger, string message);

        [LoggerMessage(111, LogLevel.Warning, "The edge asked for service '{Service}' ({Kind}), which this agent does not serve", EventName = "UnknownService")]
        public static partial void UnknownService(ILogger logger, string service, StreamKind kind);

        [LoggerMessage(112, LogLevel.Warning, "Service {Service}: all {Limit} slots busy past the queue timeout; answered overloaded (503)", EventName = "Overloaded")]
        public static partial void Overloaded(ILogger logger, string service, int limit);

        [LoggerMessage(113, LogLevel.Warning, "Service {Service}: could not connect to {Target}: {Error}", EventName = "DialFailed")]
        public static partial void DialFailed(ILogger logger, string service, string target, ErrorCode error);

        [LoggerMessage(115, LogLevel.Information, "Service {Service}: the backend connection of a {Kind} stream failed; the edge's side is reset too: {Message}", EventName = "BackendReset")]
        public static partial void BackendReset(ILogger logger, string service, StreamKind kind, string? message);

        [LoggerMessage(116, LogLevel.Debug, "Service {Service}: the edge reset a {Kind} stream (code {Code}); the backend connection is reset too: {Message}", EventName = "EdgeReset")]
        public static partial void EdgeReset(ILogger logger, string service, StreamKind kind, string code, string? message);

        [LoggerMessage(114, LogLevel.Debug, "Service {Service}: the edge gave up on a stream while it was {Stage}", EventName = "StreamAbandoned")]
        public static partial void Abandoned(ILogger logger, string service, string stage);
    }
}
