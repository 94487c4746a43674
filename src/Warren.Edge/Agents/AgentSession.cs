using System.Collections.Concurrent;
using System.Net;
using Warren.Edge.Routing;
using Warren.Edge.Tokens;
using Warren.Protocol.Framing;
using Warren.Protocol.Session;
using Warren.Protocol.Streams;
using Warren.Protocol.Tunnel;

namespace Warren.Edge.Agents;

/// <summary>An authenticated agent session: the multiplexer plus who it is and what it registered.</summary>
internal sealed class AgentSession(MuxSession mux, string tokenName, string agentName, EndPoint? remote, DateTimeOffset connectedAt)
{
    private static long s_nextId;

    public long Id { get; } = Interlocked.Increment(ref s_nextId);
    public MuxSession Mux { get; } = mux;
    /// <summary>The token this session authenticated with: it owns the hostnames and ports the session claims.</summary>
    public string TokenName { get; } = tokenName;
    public string AgentName { get; } = agentName;
    public EndPoint? Remote { get; } = remote;
    public DateTimeOffset ConnectedAt { get; } = connectedAt;

    /// <summary>"agent#id", as access-log lines name the session (made once, not per line).</summary>
    public string LogName => _logName ??= AgentName + "#" + Id.ToString(System.Globalization.CultureInfo.InvariantCulture);
    private string? _logName;

    /// <summary>Services this session registered successfully (replaced as a whole on re-registration).</summary>
    public IReadOnlyList<ServiceEntry> Services { get; set; } = [];

    /// <summary>When the session last registered (a TimeProvider timestamp): registrations are spaced (RegistrationHandler.MinInterval).</summary>
    public long? LastRegistration { get; set; }

    /// <summary>What the session's token may claim.</summary>
    public TokenGrant? Grant { get; init; }

    /// <summary>What the link runs on: "sealed records", "TLS" or "plain TCP" (agent_tls; docs/protocol.md §1.1).</summary>
    public string Link { get; init; } = "";

    public bool IsUsable => !Mux.IsGoingAway;

    /// <summary>This session's HTTP client (Forwarding/TunnelHttpClient.cs): set on its first request, cleared when it goes away.</summary>
    internal System.Net.Http.HttpMessageInvoker? HttpInvoker;

    private readonly ConcurrentDictionary<int, SemaphoreSlim> _pendingByService = new();

    /// <summary>
    /// How many of the session's pending opens (streams the agent has not accepted yet; at most
    /// <see cref="SessionOptions.MaxPendingOpens"/>) one service may hold: half. The agent accepts a stream only once
    /// the service has a free slot and a connected backend, so a service whose clients hold every slot (700 idle TCP
    /// connections) queued opens that filled the whole budget, and every other service's requests waited behind them.
    /// </summary>
    public int PendingOpensPerService => Math.Max(1, Mux.Options.MaxPendingOpens / 2);

    /// <summary>
    /// Opens a stream to <paramref name="service"/> on this session; every open is checked against what it registered.
    /// Waits at most the open timeout for one of the service's pending-open places (<see cref="PendingOpensPerService"/>),
    /// then fails with <see cref="ErrorCode.Overloaded"/> (503, or a closed TCP connection).
    /// </summary>
    public async ValueTask<MuxStream> OpenAsync(ServiceEntry service, StreamKind kind, string clientAddress, CancellationToken cancellationToken)
    {
        if (!Services.Contains(service))
        {
            throw new InvalidOperationException($"session {Id} does not serve {service.Name}");
        }
        var metadata = new StreamOpenRequest(kind, service.Name, clientAddress).Encode();
        var share = PendingOpensPerService;
        var pending = _pendingByService.GetOrAdd(service.Id, static (_, n) => new SemaphoreSlim(n, n), share);
        if (!await pending.WaitAsync(Mux.Options.OpenTimeout, cancellationToken).ConfigureAwait(false))
        {
            throw new MuxException(ErrorCode.Overloaded,
                $"{share} streams of service {service.Name} are already waiting for the agent to accept them, and none was accepted within {Mux.Options.OpenTimeout.TotalSeconds:0.#} s");
        }
        try
        {
            return await Mux.OpenStreamAsync(metadata, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            pending.Release();
        }
    }

    public override string ToString() => $"{AgentName}#{Id} ({Remote})";
}
