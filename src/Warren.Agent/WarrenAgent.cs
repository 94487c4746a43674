using System.Diagnostics.CodeAnalysis;
using Microsoft.Extensions.Logging;
using Warren.Agent.Connection;
using Warren.Agent.Services;
using Warren.Agent.Telemetry;
using Warren.Configuration;
using Warren.Protocol.Session;

namespace Warren.Agent;

/// <summary>
/// The agent: keeps <see cref="AgentConfig.Connections"/> sessions to the edge (to each of <see cref="AgentConfig.Edges"/>) and serves every configured
/// service through them. Start with <see cref="Start"/>, stop with <see cref="StopAsync"/> (drains in-flight streams).
/// </summary>
public sealed partial class WarrenAgent : IAsyncDisposable
{
    private readonly EdgeConnection[] _connections;
    private readonly CancellationTokenSource _stopping = new();
    private readonly CancellationTokenSource _drainExpired = new();
    private readonly StreamDispatcher _dispatcher;
    private Task _running = Task.CompletedTask;
    private readonly ILoggerFactory _loggerFactory;
    private AgentAdminServer? _admin;
    private volatile bool _draining;

    /// <param name="config">The validated agent configuration.</param>
    /// <param name="loggerFactory">Where the agent logs.</param>
    /// <param name="options">Hosting knobs outside agent.yaml: session tunables and the dial timeout.</param>
    public WarrenAgent(AgentConfig config, ILoggerFactory loggerFactory, WarrenAgentOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(loggerFactory);
        options ??= new WarrenAgentOptions();
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(options.DialTimeout, TimeSpan.Zero, nameof(options.DialTimeout));
        Config = config;
        var logger = loggerFactory.CreateLogger("Warren.Agent");
        _services = new ServiceSet(config.Services);
        _started = config;
        _reloadSource = options.ReloadSource;
        _logger = logger;
        _loggerFactory = loggerFactory;
        Metrics = new AgentMetrics(this, _services);
        _dispatcher = new StreamDispatcher(_services, TimeProvider.System, logger) { Metrics = Metrics, DrainExpired = _drainExpired.Token };
        var sessionOptions = options.Session.Clone();
        sessionOptions.KeepAliveInterval = config.Session.KeepaliveInterval;
        sessionOptions.KeepAliveTimeout = config.Session.KeepaliveTimeout;
        // connections sessions to each edge (several with edges:, docs/cluster.md, "Agents"), each registering every
        // service; each edge has its own login gate, since one edge may refuse the token while another accepts it.
        _connections = [.. config.Targets.SelectMany((target, e) =>
        {
            var gate = new LoginGate(prober: e * config.Connections);
            var toEdge = config with { Edge = target.Edge, EdgeFingerprint = target.EdgeFingerprint };
            return Enumerable.Range(0, config.Connections).Select(i =>
                new EdgeConnection(e * config.Connections + i, toEdge, new EdgeDialer(toEdge, options.DialTimeout, logger), _dispatcher, _services, sessionOptions, gate, logger));
        })];
    }

    /// <summary>The configuration in force (services and drain_timeout change on reload; the rest needs a restart).</summary>
    public AgentConfig Config { get; private set; }

    /// <summary>The agent's metrics, served at /metrics on <see cref="AgentConfig.Admin"/> when set.</summary>
    internal AgentMetrics Metrics { get; }

    /// <summary>Port of the local admin listener once started; null when <see cref="AgentConfig.Admin"/> is off.</summary>
    public int? AdminPort => _admin?.Port;

    internal IEnumerable<(int Index, MuxSession? Session)> SessionsByIndex => _connections.Select(c => (c.Index, c.Session));

    /// <summary>Sessions currently authenticated and registered.</summary>
    public int ConnectedSessions => _connections.Count(c => c.Session is not null);

    /// <summary>
    /// Ready when at least one session is up and every service it registered was accepted; never once a drain has
    /// begun (from the first moment of SIGTERM, so a load balancer stops sending before the sessions go).
    /// </summary>
    public bool IsReady => !_draining && _connections.Any(c => c.Session is not null && c.Registrations.Count == Config.Services.Count && c.Registrations.All(r => r.Ok));

    /// <summary>Live sessions, for status and metrics.</summary>
    public IEnumerable<MuxSession> Sessions => _connections.Select(c => c.Session).OfType<MuxSession>();

    public int Reconnects => _connections.Sum(c => c.Reconnects);

    /// <summary>Streams in flight per service (for status and metrics).</summary>
    public IReadOnlyDictionary<string, int> InFlight => _dispatcher.Services.ToDictionary(p => p.Key, p => p.Value.InFlight);

    /// <summary>
    /// Whether this build has the admin listener. The `warren-agent` binary (src/Warren.AgentCli, Native AOT) turns
    /// the switch off so that the compiler leaves ASP.NET Core out: it is what keeps that binary at about 22 MB of RSS
    /// instead of 32 (docs/performance.md, "The agent alone, compiled ahead of time").
    /// </summary>
    [FeatureSwitchDefinition(AdminListenerSwitch)]
    public static bool AdminListenerSupported { get; } = !AppContext.TryGetSwitch(AdminListenerSwitch, out var on) || on;

    private const string AdminListenerSwitch = "Warren.Agent.AdminListener";

    /// <summary>Starts the admin listener when configured, then the sessions.</summary>
    /// <exception cref="ConfigException"><see cref="AgentConfig.Admin"/> is set and this build has no admin listener.</exception>
    public void Start()
    {
        if (Config.Admin is { Length: > 0 } admin)
        {
            if (!AdminListenerSupported)
            {
                throw new ConfigException([new ConfigError(null, null, "admin",
                    "this agent binary (warren-agent) is built without the admin listener; remove admin, or run `warren agent` " +
                    "for /metrics, /healthz, /readyz, /api/status and the console")]);
            }
            // Started before the sessions so /readyz answers "not ready" from the first moment; a bind failure stops Start.
            _admin = AgentAdminServer.StartAsync(admin, Config.AdminToken, this, Metrics, _loggerFactory).GetAwaiter().GetResult();
        }
        _running = Task.WhenAll(_connections.Select(c => Task.Run(() => c.RunAsync(_stopping.Token))));
    }

    private int _disposed;

    /// <summary>
    /// How long the TCP streams still open at the drain's timeout get to close after the agent ended them cleanly,
    /// before the session is cut and whatever is left is reset (docs/operations.md, "Restarts and upgrades").
    /// </summary>
    internal static readonly TimeSpan LongStreamCloseAllowance = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Sends GOAWAY on every session and waits up to <paramref name="grace"/> (drain_timeout) for in-flight streams;
    /// then ends the TCP streams still open cleanly (their client gets a FIN, not a reset) and closes the sessions
    /// once those have closed, or <see cref="LongStreamCloseAllowance"/> later.
    /// </summary>
    public Task StopAsync(TimeSpan grace) => StopAsync(grace, LongStreamCloseAllowance);

    private async Task StopAsync(TimeSpan grace, TimeSpan closeAllowance)
    {
        // Not ready first; then stop reconnecting and drain every session (those the edge already asked to drain
        // too): GOAWAY, in-flight streams finish; at the grace the long-lived TCP streams are ended cleanly
        // (Services/StreamDispatcher.cs: the backend's input ends, so the edge's client gets a FIN and closes), and
        // what is still open after the allowance is cut.
        _draining = true;
        var sessions = Sessions.Concat(_connections.SelectMany(c => c.Draining)).Distinct().ToArray();
        await _stopping.CancelAsync().ConfigureAwait(false);
        var drains = Task.WhenAll(sessions.Select(s => s.DrainAsync(grace + closeAllowance)));
        if (await Task.WhenAny(drains, Task.Delay(grace)).ConfigureAwait(false) != drains)
        {
            Log.EndingLongStreams(_logger, grace.TotalSeconds);
            await _drainExpired.CancelAsync().ConfigureAwait(false);
        }
        await drains.ConfigureAwait(false);
        await _running.ConfigureAwait(false);
        if (_admin is { } adminServer)
        {
            _admin = null;
            await adminServer.DisposeAsync().ConfigureAwait(false);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return; // an agent a test stopped is disposed again with its harness
        }
        await StopAsync(TimeSpan.FromMilliseconds(1), TimeSpan.Zero).ConfigureAwait(false);
        _stopping.Dispose();
        _drainExpired.Dispose();
        _reloading.Dispose();
        foreach (var connection in _connections)
        {
            connection.Dispose();
        }
    }
}
