using System.Diagnostics;
using System.Net.Sockets;
using Warren.Edge.Agents;
using Warren.Edge.Routing;
using Warren.Protocol.Framing;
using Warren.Protocol.Session;

namespace Warren.Edge.Telemetry;

/// <summary>Metrics and the access-log line for raw TCP connections; one <see cref="Connection"/> per accepted client.</summary>
internal sealed class TcpTelemetry(EdgeMetrics metrics, AccessLogWriter accessLog)
{
    private readonly AccessLogWriter _access = accessLog;

    /// <summary>The console's request log, live charts and accounting (docs/console.md); null: none.</summary>
    internal Dashboard.EdgeConsole? Recorder { get; init; }

    public Connection Begin(ServiceEntry? service, AgentSession? session, Socket client, int port) =>
        new(this, service is null ? null : metrics.For(service), service, session, client, null, port);

    /// <summary>
    /// A <c>warren connect</c> stream (docs/operations.md, "Private services"): counted and logged as a TCP connection
    /// of the private service, from the connect client's address, on port 0 (it came through no public port).
    /// </summary>
    public Connection Begin(ServiceEntry service, AgentSession? session, System.Net.IPAddress? client) =>
        new(this, metrics.For(service), service, session, null, client, 0);

    /// <summary>A connection the service's caps refused at accept (warren_service_rejected_total).</summary>
    public void Rejected(ServiceEntry service, ClientRejection reason) => metrics.For(service).CountRejected(reason);

    /// <summary>Maps why a spliced connection failed to the fixed error kinds.</summary>
    public static ErrorKind Classify(Exception ex) => ex switch
    {
        MuxException { Code: ErrorCode.DialFailed } => ErrorKind.DialFailed,
        MuxException { Code: ErrorCode.DialTimeout } => ErrorKind.DialTimeout,
        MuxException { Code: ErrorCode.Overloaded or ErrorCode.RefusedStream } => ErrorKind.Overloaded,
        MuxException { Code: ErrorCode.IdleTimeout } or TimeoutException => ErrorKind.Timeout,
        OperationCanceledException => ErrorKind.Reset,
        _ => ErrorKind.Reset,
    };

    internal sealed class Connection : IDisposable
    {
        private readonly TcpTelemetry _owner;
        private readonly ServiceMetrics? _metrics;
        private readonly ServiceEntry? _service;
        private readonly AgentSession? _session;
        private readonly Socket? _client;
        private readonly System.Net.IPAddress? _address;
        private readonly int _port;
        private readonly long _started = Stopwatch.GetTimestamp();
        private long _in, _out;
        private ErrorKind _error;

        public Connection(TcpTelemetry owner, ServiceMetrics? metrics, ServiceEntry? service, AgentSession? session, Socket? client, System.Net.IPAddress? address, int port)
        {
            (_owner, _metrics, _service, _session, _client, _address, _port) = (owner, metrics, service, session, client, address, port);
            if (metrics is not null)
            {
                metrics.Tcp.Inc();
                metrics.CountConnection();
                metrics.TcpOpen.Inc();
                metrics.Active.Inc();
            }
        }

        public void Completed(long clientToService, long serviceToClient) => (_in, _out) = (clientToService, serviceToClient);

        public void Fail(ErrorKind kind) => _error = kind;

        /// <summary>Refused because the service's token is over its quota (logged as quota_exceeded).</summary>
        public bool OverQuota { get; set; }

        private System.Net.IPAddress? ClientAddress()
        {
            try
            {
                return _address ?? (_client?.RemoteEndPoint as System.Net.IPEndPoint)?.Address;
            }
            catch (ObjectDisposedException)
            {
                return null;
            }
        }

        public void Dispose()
        {
            if (_metrics is not null)
            {
                _metrics.TcpOpen.Dec();
                _metrics.Active.Dec();
                _metrics.BytesIn.Inc(_in);
                _metrics.BytesOut.Inc(_out);
                _metrics.CountError(_error);
            }
            var client = ClientAddress();
            _owner.Recorder?.Tcp(_service, _session, client, _port, Stopwatch.GetElapsedTime(_started), _in, _out, _error, OverQuota);
            if (_owner._access.Enabled)
            {
                // Queued, not written: AccessLogWriter formats and writes it off the socket thread.
                _owner._access.Write(AccessEntry.Connection(_service?.Name ?? "-", _port, _error == ErrorKind.None ? "ok" : EdgeMetrics.Label(_error),
                    Stopwatch.GetElapsedTime(_started).TotalMilliseconds, _in, _out, client, _session));
            }
        }
    }
}
