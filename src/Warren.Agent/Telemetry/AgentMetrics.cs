using Prometheus;
using Warren.Agent.Services;
using Warren.Protocol.Buffers;
using Warren.Protocol.Streams;

namespace Warren.Agent.Telemetry;

/// <summary>
/// The agent's Prometheus metrics (docs/observability.md): its side of each service and of its sessions. Labels
/// are configured service names, session indexes and fixed enums only. Per-service children are looked up once.
/// </summary>
internal sealed class AgentMetrics
{
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, ServiceChildren> _services = new(StringComparer.Ordinal);
    private readonly Func<string, ServiceChildren> _newChildren;

    public AgentMetrics(WarrenAgent agent, IReadOnlyDictionary<string, LocalService> services)
    {
        Registry = Metrics.NewCustomRegistry();
        DotNetStats.Register(Registry);
        var f = Metrics.WithCustomRegistry(Registry);
        var inFlight = f.CreateGauge("warren_agent_service_in_flight", "Streams holding a concurrency slot of the service (dialing or spliced).", ["service"]);
        var queued = f.CreateGauge("warren_agent_service_queued", "Streams waiting for a concurrency slot (max_concurrency).", ["service"]);
        var dials = f.CreateCounter("warren_agent_dials_total", "Connections to the service's target, by result (ok, dial_failed, dial_timeout).", ["service", "result"]);
        var refused = f.CreateCounter("warren_agent_streams_refused_total", "Streams refused before dialing, by reason (overloaded: no slot within the queue timeout).", ["service", "reason"]);
        var served = f.CreateCounter("warren_agent_streams_served_total", "Streams accepted and spliced to the target until they ended.", ["service"]);
        UnknownService = f.CreateCounter("warren_agent_unknown_service_streams_total", "Streams the edge opened for a service this agent does not serve (name not used as a label).");
        var sessions = f.CreateGauge("warren_agent_sessions_connected", "Sessions to the edge authenticated and registered.");
        var reconnects = f.CreateCounter("warren_agent_reconnects_total", "Times a session to the edge was re-dialed after ending or failing.");
        var rtt = f.CreateGauge("warren_agent_session_rtt_seconds", "Smoothed round-trip time to the edge, per session index.", ["session"]);
        var streams = f.CreateGauge("warren_agent_session_streams_open", "Streams open on the session to the edge, per session index.", ["session"]);
        var buffered = f.CreateGauge("warren_agent_inbound_buffered_bytes", "Bytes received on tunnel streams and not yet read or discarded (whole process).");
        var blocks = f.CreateGauge("warren_agent_buffer_blocks_outstanding", "16 KiB blocks of the inbound-buffer pool rented and not returned (whole process).");
        var retained = f.CreateGauge("warren_agent_buffer_blocks_retained", "Idle 16 KiB blocks the inbound-buffer pool keeps for reuse (whole process).");
        var ready = f.CreateGauge("warren_agent_ready", "1 when a session is up and every service was registered.");
        // Services come and go with reloads: each one's children are made the first time it is asked for.
        _newChildren = name => new ServiceChildren(
            queued.WithLabels(name), dials.WithLabels(name, "ok"), dials.WithLabels(name, "dial_failed"), dials.WithLabels(name, "dial_timeout"),
            refused.WithLabels(name, "overloaded"), served.WithLabels(name));
        foreach (var name in services.Keys)
        {
            _services.GetOrAdd(name, _newChildren);
        }
        var indexes = Enumerable.Range(0, agent.Config.Connections).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        var rttChildren = indexes.Select(i => rtt.WithLabels(i)).ToArray();
        var streamChildren = indexes.Select(i => streams.WithLabels(i)).ToArray();
        Registry.AddBeforeCollectCallback(() =>
        {
            foreach (var (name, service) in services)
            {
                inFlight.WithLabels(name).Set(service.InFlight);
            }
            sessions.Set(agent.ConnectedSessions);
            reconnects.IncTo(agent.Reconnects);
            ready.Set(agent.IsReady ? 1 : 0);
            buffered.Set(MuxStream.InboundBufferedBytes);
            blocks.Set(BlockPool.Shared.Outstanding);
            retained.Set(BlockPool.Shared.Retained);
            foreach (var (index, session) in agent.SessionsByIndex)
            {
                rttChildren[index].Set(session?.SmoothedRtt.TotalSeconds ?? 0);
                streamChildren[index].Set(session?.StreamCount ?? 0);
            }
        });
    }

    public CollectorRegistry Registry { get; }

    public Counter UnknownService { get; }

    public ServiceChildren? For(string service) => _services.GetOrAdd(service, _newChildren);

    internal sealed record ServiceChildren(Gauge.Child Queued, Counter.Child DialOk, Counter.Child DialFailed, Counter.Child DialTimeout,
        Counter.Child Overloaded, Counter.Child Served);
}
