using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Http;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.DataProtection.KeyManagement;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Warren.Admin;
using Warren.Configuration;
using Warren.Edge.Acme;
using Warren.Edge.Admin;
using Warren.Edge.Agents;
using Warren.Edge.Cluster;
using Warren.Edge.Connect;
using Warren.Edge.Dashboard;
using Warren.Edge.Forwarding;
using Warren.Edge.Hosting;
using Warren.Edge.Limits;
using Warren.Edge.Policy;
using Warren.Edge.Routing;
using Warren.Edge.Shield;
using Warren.Edge.Tcp;
using Warren.Edge.Telemetry;
using Warren.Edge.Tls;
using Warren.Edge.Tokens;
using Warren.Protocol.Session;
using Yarp.ReverseProxy.Forwarder;
using SessionOptions = Warren.Protocol.Session.SessionOptions;

namespace Warren.Edge;

/// <summary>Knobs for hosting the edge that are not part of edge.yaml (tests and the demo set them).</summary>
public sealed class EdgeServerOptions
{
    /// <summary>Agent session tunables; the keepalive interval and timeout are taken from <see cref="EdgeConfig.Session"/>.</summary>
    public SessionOptions Session { get; init; } = new() { HandshakeTimeout = TimeSpan.FromSeconds(5) };

    /// <summary>Address TCP services listen on, over edge.yaml's <c>listen.tcp_address</c>; null (the default) takes the config's.</summary>
    public IPAddress? TcpBindAddress { get; init; }

    /// <summary>
    /// How long an agent has, once its session is up, to open the control stream and authenticate; past it the
    /// session is closed with HANDSHAKE_TIMEOUT (docs/security.md). Default 5 s; must be positive.
    /// </summary>
    public TimeSpan AuthTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Loads and validates edge.yaml again for a hot reload (SIGHUP, <c>warren reload</c>, POST /api/reload); throws
    /// <see cref="ConfigException"/> when it is invalid. Null: this edge has no file to reload (the API says so).
    /// </summary>
    public Func<EdgeConfig>? ReloadSource { get; init; }

    /// <summary>
    /// With <c>access_log.output: stdout</c>, where the access log's text lines go directly, a batch per write
    /// (Telemetry/BatchedConsoleOutput.cs); null: through the <c>Warren.Access</c> logger. The CLI sets it to standard
    /// output when that is not a terminal and the log format is text.
    /// </summary>
    public Stream? AccessLogConsole { get; init; }

    /// <summary>The clock of schedules that span hours to months (certificate renewal); tests move it instead of sleeping.</summary>
    public TimeProvider Time { get; init; } = TimeProvider.System;

    /// <summary>
    /// Upgrades without refusing anyone (docs/operations.md, "Upgrading the edge without refusing anyone"): take the
    /// listening sockets over from an edge running on the same data directory, and let a later edge take them from
    /// this one (<c>{data}/edge.sock</c>, Hosting/EdgeHandover.cs). <c>warren edge</c> turns it on; off by default, so
    /// edges hosted in one process (tests) never take each other's sockets.
    /// </summary>
    public bool Upgrades { get; init; }
}

/// <summary>
/// The edge: public HTTP(S) listeners, the agents listener (TLS, then the multiplexer), TCP service listeners,
/// and an admin listener. Start with <see cref="StartAsync"/>; ports given as 0 are bound to free ports, readable
/// from the properties afterwards.
/// </summary>
public sealed partial class EdgeServer : IAsyncDisposable
{
    private readonly WebApplication _public;
    private readonly WebApplication _admin;
    private readonly TcpServiceHost _tcp;
    private readonly TunnelHttpClient _client;
    private readonly EdgeListeners _listeners;
    private readonly ListenOptions _adminListener;
    private readonly TokenValidator _tokens;
    private readonly AgentListener _agents;
    private readonly AuthFailureLimiter _authFailures;

    private EdgeServer(WebApplication publicApp, WebApplication admin, TcpServiceHost tcp, TunnelHttpClient client,
        EdgeListeners listeners, ListenOptions adminListener, EdgeState state, string? fingerprint, TokenValidator tokens,
        AgentListener agents, AuthFailureLimiter authFailures)
    {
        _tokens = tokens;
        _agents = agents;
        _authFailures = authFailures;
        _public = publicApp;
        _admin = admin;
        _tcp = tcp;
        _client = client;
        _listeners = listeners;
        _adminListener = adminListener;
        State = state;
        AgentCertificateFingerprint = fingerprint;
    }

    internal EdgeState State { get; }

    /// <summary>The HTTP clients the forwarder sends through, one per agent session (tests).</summary>
    internal TunnelHttpClient Client => _client;

    /// <summary>The edge's metrics (served on the admin listener at /metrics).</summary>
    internal EdgeMetrics? Metrics { get; private init; }

    /// <summary>The console's state: request log, live charts, inspector, accounting (docs/console.md).</summary>
    internal EdgeConsole? Console { get; private init; }

    /// <summary>Automatic certificates; null without <c>acme:</c> in edge.yaml.</summary>
    internal CertificateManager? Acme { get; private init; }

    /// <summary>The abuse shield: bans of client addresses, kept in warren.db (docs/policy.md, "Abuse shield").</summary>
    internal AbuseShield Shield { get; private init; } = null!;

    /// <summary>Removes JWT and OIDC schemes no policy holds any more (Policy/SchemeSweeper.cs).</summary>
    internal SchemeSweeper Schemes { get; private init; } = null!;

    /// <summary>The access log's writer (access_log in edge.yaml): lines queued by the request path, written in the background.</summary>
    internal AccessLogWriter? AccessLog { get; private init; }

    public int? HttpPort => _listeners.Port("http");
    public int? HttpsPort => _listeners.Port("https");
    public int AgentsPort => _agents.Port;

    /// <summary>The tokens in force (edge.yaml's and the store's, as of its last refresh).</summary>
    internal TokenValidator Tokens => _tokens;

    /// <summary>The public TCP ports listening now (TCP services; a private service never has one).</summary>
    internal IReadOnlyCollection<int> TcpPorts => _tcp.Ports;
    public int AdminPort => _adminListener.IPEndPoint!.Port;

    /// <summary>SHA-256 of the agent listener's certificate (what agents pin); null when the link is insecure.</summary>
    public string? AgentCertificateFingerprint { get; }

    public int SessionCount => State.Sessions.Count;

    /// <summary>The admin listener's endpoints (its OpenAPI document must describe each API one: Admin/AdminOpenApi.cs).</summary>
    internal IEnumerable<Microsoft.AspNetCore.Routing.RouteEndpoint> AdminEndpoints =>
        ((Microsoft.AspNetCore.Routing.IEndpointRouteBuilder)_admin).DataSources.SelectMany(d => d.Endpoints).OfType<Microsoft.AspNetCore.Routing.RouteEndpoint>();

    public static async Task<EdgeServer> StartAsync(EdgeConfig config, ILoggerFactory loggerFactory, EdgeServerOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(config);
        options ??= new EdgeServerOptions();
        var upgrades = loggerFactory.CreateLogger("Warren.Edge.Upgrade");
        // Before anything is bound: a running edge on this data directory hands its listening sockets over.
        using var predecessor = options.Upgrades ? EdgeHandover.TakeOver(config.DataDirectory, upgrades) : null;
        var sockets = new ListenSockets(predecessor?.Sockets);
        var server = await StartCoreAsync(config, loggerFactory, options, sockets, tookOver: predecessor is not null, cancellationToken).ConfigureAwait(false);
        sockets.CloseUnclaimed();
        if (options.Upgrades)
        {
            server._handover = HandoverListener.Start(config.DataDirectory, sockets, server.Known.FlushAsync, upgrades);
        }
        predecessor?.Serving(); // the old edge lets go of the sockets and drains
        return server;
    }

    private static async Task<EdgeServer> StartCoreAsync(EdgeConfig config, ILoggerFactory loggerFactory, EdgeServerOptions options, ListenSockets sockets, bool tookOver,
        CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(options.AuthTimeout, TimeSpan.Zero, nameof(options.AuthTimeout));
        var undo = new StartupUndo();
        try
        {
            return await BuildAndStartAsync(config, loggerFactory, options, sockets, tookOver, undo, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            // Closing what was built must not close a socket the previous edge still accepts on (an upgrade that
            // failed to start leaves the old edge serving): detached first, as at a handover.
            sockets.DetachAll();
            sockets.CloseUnclaimed();
            await undo.UndoAsync().ConfigureAwait(false);
            throw;
        }
    }

    private static async Task<EdgeServer> BuildAndStartAsync(EdgeConfig config, ILoggerFactory loggerFactory, EdgeServerOptions options, ListenSockets sockets, bool tookOver,
        StartupUndo undo, CancellationToken cancellationToken)
    {
        var state = new EdgeState();
        state.Routes.Grace = config.Grace;
        var clusterLogger = loggerFactory.CreateLogger("Warren.Edge.Cluster");
        // In a cluster (docs/cluster.md) the database tokens are the cluster's, in Redis, each edge holding a copy.
        var cluster = config.Cluster is { } clusterConfig ? undo.Own(await ClusterConnection.ConnectAsync(clusterConfig, clusterLogger).ConfigureAwait(false)) : null;
        ITokenStore tokenStore = cluster is null ? new TokenStore(config.DataDirectory) : await ClusterTokenStore.StartAsync(cluster, options.Time, clusterLogger).ConfigureAwait(false);
        // Rate limits, strikes and quotas count locally and exchange their counts in the background (docs/cluster.md, "Shared counts").
        var counters = cluster is null ? null : undo.Own(new ClusterCounters(cluster, options.Time, clusterLogger));
        var clusterRates = counters is null ? null : new ClusterRateLimits(counters, state.Routes);
        var tokens = new TokenValidator(config.Tokens, tokenStore);
        if (tokens.Count == 0 && cluster is null)
        {
            // No configuration path leaves agent authentication silently off (docs/security.md).
            tokens.Dispose();
            throw new InvalidOperationException(
                $"no agent tokens: the edge refuses to accept agents without authentication. Create one with `warren token create --data {config.DataDirectory} --name NAME --allow-host PATTERN`, or add tokens: to edge.yaml");
        }
        undo.OwnSync(tokens);
        tokens.TokensRevoked += names => state.CloseSessionsOf(names);
        var logger = loggerFactory.CreateLogger("Warren.Edge");
        var agentCertificate = config.AgentTls.Insecure ? null : EdgeCertificates.LoadOrCreateAgentCertificate(config);
        var sni = config.Listen.Https is { Length: > 0 }
            ? new SniCertificateSelector(config.Certificates, config.Acme is { FallbackCert: { } fallbackCert, FallbackKey: { } fallbackKey } ? EdgeCertificates.LoadContext(fallbackCert, fallbackKey) : null)
            : null;
        var acme = config.Acme is { } acmeConfig && sni is not null ? AcmeServices.Create(config, acmeConfig, sni, state.Routes, options.Time, loggerFactory) : null;
        if (acme is not null)
        {
            undo.Own(acme.Manager);
        }
        var session = options.Session.Clone();
        session.KeepAliveInterval = config.Session.KeepaliveInterval;
        session.KeepAliveTimeout = config.Session.KeepaliveTimeout;
        var client = undo.OwnSync(new TunnelHttpClient(session.OpenTimeout, state.Routes));
        var limitsConfig = config.Limits;
        // The abuse shield refuses banned clients at accept on every listener (docs/policy.md, "Abuse shield"), and
        // failed agent logins count towards a ban.
        var shield = undo.Own(new AbuseShield(config.Shield, new BanStore(config.DataDirectory, logger), options.Time, loggerFactory.CreateLogger<AbuseShield>()));
        var clusterStrikes = counters is null ? null : undo.OwnSync(new ClusterStrikes(counters, shield, options.Time));
        var perIp = new PerIpConnectionLimiter(limitsConfig.MaxConnectionsPerIp, limitsConfig.Ipv6SubnetFactor);
        var authFailures = undo.OwnSync(new AuthFailureLimiter(limitsConfig.MaxAuthFailuresPerIp, limitsConfig.AuthFailureWindow, limitsConfig.Ipv6SubnetFactor, shield));
        var agentGuard = new AgentListenerGuard(limitsConfig.MaxAgentConnectionsPerIp, limitsConfig.Ipv6SubnetFactor, authFailures,
            loggerFactory.CreateLogger<AgentListenerGuard>()) { Shield = shield };
        var metrics = new EdgeMetrics(state, sni, perIp, agentGuard);
        shield.Metrics = new ShieldMetrics(metrics.Registry, () => shield.Count);
        var trusted = TrustedProxies.Parse(config.TrustedProxies);
        var listeners = new EdgeListeners(metrics, perIp, new ShieldConnectionGate(shield, trusted));
        var accessLog = undo.Own(new AccessLogWriter(config.AccessLog, config.DataDirectory, loggerFactory, metrics.Registry, options.Time,
            console: options.AccessLogConsole));

        var builder = WebHosting.CreateBuilder(inlineScheduling: true);
        builder.WebHost.UseSockets(o => o.CreateBoundListenSocket = sockets.ForKestrel); // bound below, or taken over from the previous edge
        TransportBlockPools.Use(builder.Services); // uploads received 16 KiB per recvfrom, not 2 KiB
        builder.Logging.ClearProviders();
        builder.Services.AddSingleton(loggerFactory);
        builder.Services.AddSingleton(state);
        builder.Services.AddSingleton(state.Routes);
        builder.Services.AddSingleton(tokens);
        // Registered through factories so the container disposes them with the app.
        builder.Services.AddSingleton(services => new KestrelConnectionErrors(services.GetRequiredService<IMeterFactory>(),
            listeners.NameOf));
        var clientRequests = new ClientRequestLimiter(limitsConfig.MaxRequestsPerIpPerService, limitsConfig.Ipv6SubnetFactor,
            queueLimit: limitsConfig.MaxConnectionsPerIp, limitsConfig.RequestQueueTimeout);
        builder.Services.AddSingleton(trusted);
        builder.Services.AddSingleton(new TunnelTransformer(trusted));
        builder.Services.AddSingleton(_ => clientRequests);
        builder.Services.AddSingleton<ClientShare>();
        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddAuthentication(); // the JWT and OIDC layers' schemes are added at run time (Policy/JwtAuthenticator.cs, OidcAuthenticator.cs)
        // OIDC session cookies outlive a restart: the keys that protect them stay in the data directory (0700/0600).
        builder.Services.AddDataProtection().SetApplicationName("warren-edge-policies");
        builder.Services.Configure<KeyManagementOptions>(keys => keys.XmlRepository = new PrivateXmlRepository(config.DataDirectory));
        builder.Services.AddSingleton(services => ActivatorUtilities.CreateInstance<PolicyServices>(services, new DeferredDataProtectionProvider(services)));
        builder.Services.AddSingleton(sp => new EdgePolicies(config, sp.GetRequiredService<PolicyServices>()));
        builder.Services.AddSingleton(_ => new PolicyRateLimiter(clusterRates));
        builder.Services.AddSingleton(new PolicyMetrics(metrics.Registry));
        builder.Services.AddSingleton(shield); // an instance: the edge disposes it (DisposeAsync), after the listeners
        builder.Services.AddSingleton<PolicyMiddleware>();
        builder.Services.AddSingleton(config.Limits);
        builder.Services.AddSingleton(session);
        builder.Services.AddSingleton(options);
        builder.Services.AddSingleton(client);
        builder.Services.AddHttpForwarder();
        builder.Services.AddSingleton<TunnelForwardingMiddleware>();
        // In a cluster, the HTTP streams other edges forward here are Kestrel connections too (Cluster/PeerHttpTransport.cs).
        var peerHttp = cluster is null ? null : new PeerHttpTransport();
        if (peerHttp is not null)
        {
            builder.Services.AddSingleton<IConnectionListenerFactory>(peerHttp);
        }
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            if (peerHttp is not null)
            {
                kestrel.Listen(new PeerEndPoint(), l => l.Protocols = HttpProtocols.Http1);
            }
            EdgeListeners.ApplyLimits(kestrel, config.Limits);
            if (config.Listen.Http is { Length: > 0 } http)
            {
                listeners.ListenHttp(kestrel, sockets.Bind("http", ListenEndPoint.Parse(http)));
            }
            if (sni is not null)
            {
                listeners.ListenHttps(kestrel, sockets.Bind("https", ListenEndPoint.Parse(config.Listen.Https!)), new PublicTlsHandshake(sni, acme?.TlsAlpn01), acmeTlsAlpn: acme?.TlsAlpn01 is not null);
            }
        });
        builder.Services.WithoutKeyRingPreload(); // the keys are read at the first OIDC login (Policy/DeferredDataProtectionProvider.cs)
        var app = undo.Own(builder.Build());
        metrics.KestrelErrors = app.Services.GetRequiredService<KestrelConnectionErrors>();
        // The authentication services are registered for the policies' JWT layers, and WebApplication then inserts
        // UseAuthentication at the top of the pipeline by itself: a DI scope, a handler provider and an async state
        // machine for every request (about 500 B and a measurable share of the edge's CPU, docs/performance.md), for
        // services that have no such policy too. Policy layers call their handlers themselves (Policy/JwtAuthenticator.cs);
        // a remote scheme such as OpenID Connect must handle its callback path itself, for its own service only.
        ((IApplicationBuilder)app).Properties["__AuthenticationMiddlewareSet"] = true;
        _ = app.Services.GetRequiredService<EdgePolicies>(); // edge.yaml policies compile now, not at the first agent
        if (acme?.Http01 is { } http01)
        {
            app.Use(http01.InvokeAsync); // before routing: the CA's requests never reach a service
        }
        // Policy (docs/policy.md) sits inside the telemetry wrapper, so refusals are counted and logged per service;
        // the console's quota and inspector step (docs/console.md) comes after policy, right before forwarding.
        var console = undo.OwnSync(new EdgeConsole(config, state, metrics, tokens, client, options.Time, loggerFactory));
        var clusterQuotas = counters is null ? null : new ClusterQuotas(counters, console.Accounting);
        var clusterTraffic = counters is null ? null : new ClusterTraffic(counters, console.Accounting);
        if (tookOver)
        {
            console.LeaveIdsToPredecessor();
        }
        var forward = app.Services.GetRequiredService<PolicyMiddleware>().Wrap(console.Wrap(app.Services.GetRequiredService<TunnelForwardingMiddleware>().InvokeAsync));
        // A service known only from before a restart waits for its agent (and its policy) before the policy step.
        forward = new RestoredRouteGate(state.Routes, logger).Wrap(forward);
        forward = new HandoverGate(state, logger).Wrap(forward); // after an upgrade, a request this edge cannot serve goes to the new one
        forward = new DrainCloser(state.Routes).Wrap(forward); // a drained service's WebSockets end at its drain timeout
        forward = new ShieldMiddleware(shield, trusted).Wrap(forward); // a banned client is refused before routing
        var pipeline = new RequestTelemetry(metrics, accessLog) { Recorder = console }.Wrap(forward);
        // Any edge serves any service (docs/cluster.md, "Forwarding"); an edge without cluster: has no such step.
        var peers = cluster is null ? null : undo.Own(new PeerForwarder(cluster, state.Routes, app.Services.GetRequiredService<IHttpForwarder>(), session, options.Time,
            draining: () => !metrics.IsReady, clusterLogger) { SealedRecords = config.AgentTls.SealedRecords });
        app.Run(peers is null ? pipeline : peers.Wrap(pipeline));

        EdgeServer? server = null; // the admin API reaches the edge once it is built (below)
        var admin = undo.Own(AdminHost.Build(config, loggerFactory, state, metrics, acme?.Manager, console, out var adminListener, tokens,
            configuredTokens: () => server?.Config.Tokens ?? config.Tokens,
            reload: () => server?.ReloadAsync() ?? Task.FromResult(ReloadResult.Refused("the edge is still starting")), shield, sockets,
            drainTimeout: () => server?.Config.DrainTimeout ?? config.DrainTimeout,
            cluster: cluster is null ? null : () => server?.ClusterRegistry?.Describe()));

        var claims = cluster is null ? null : undo.OwnSync(new ClusterClaims(cluster, state.Routes, options.Time, clusterLogger));
        var registrations = new RegistrationHandler(state.Routes, app.Services.GetRequiredService<EdgePolicies>(), config.Limits.MaxServicesPerSession,
            TimeProvider.System, loggerFactory.CreateLogger<RegistrationHandler>()) { Cluster = claims };
        var tcp = undo.Own(new TcpServiceHost(state.Routes, options.TcpBindAddress ?? IPAddress.Parse(config.Listen.TcpAddress), config.Limits.IdleTimeout, logger) {
            Telemetry = new TcpTelemetry(metrics, accessLog) { Recorder = console },
            Policy = new TcpPolicyGate(app.Services.GetRequiredService<PolicyRateLimiter>(), app.Services.GetRequiredService<PolicyMetrics>(), logger, shield),
            Shield = shield,
            Limits = new TcpConnectionLimits(limitsConfig),
            Sockets = sockets,
        });
        // warren connect (docs/operations.md, "Private services"): its streams are the private services' TCP clients.
        var connects = new ConnectHandler(state, tokens, tcp.Limits, config.Limits.IdleTimeout, loggerFactory.CreateLogger<ConnectHandler>())
        {
            Telemetry = tcp.Telemetry, Policy = tcp.Policy, Shield = shield, MaxStreamsPerSession = limitsConfig.MaxConnectStreamsPerSession,
        };
        var handler = new AgentConnectionHandler(state, tokens, authFailures, session, client, options, registrations,
            loggerFactory.CreateLogger<AgentConnectionHandler>()) { Connects = connects };
        var agents = undo.Own(AgentListener.Start(ListenEndPoint.Parse(config.Listen.Agents), agentCertificate, config.AgentTls.SealedRecords, handler, agentGuard, metrics,
            config.Limits.MaxConnections, loggerFactory.CreateLogger<AgentListener>(), sockets));
        // Before any listener accepts: the services known before this start route to their grace queues (503, never 404).
        var known = undo.Own(new KnownServices(config.DataDirectory, state.Routes, logger));
        var restored = known.Restore(config.Grace.Remember > TimeSpan.Zero);
        var liveLimits = new LiveLimits(app.Services.GetRequiredService<Microsoft.Extensions.Options.IOptions<KestrelServerOptions>>().Value.Limits,
            perIp, agentGuard, tcp.Limits, registrations);
        await app.StartAsync(cancellationToken).ConfigureAwait(false);
        await admin.StartAsync(cancellationToken).ConfigureAwait(false);
        var fingerprint = agentCertificate is null ? null : EdgeCertificates.Fingerprint(agentCertificate);
        if (acme is not null)
        {
            // After the listeners are bound: the CA connects back to them for http-01 and tls-alpn-01.
            AcmeMetrics.Register(metrics.Registry, acme.Manager);
            acme.Manager.Start();
        }
        var peerListener = cluster is null ? null : undo.Own(PeerListener.Start(cluster, agentCertificate, config.AgentTls.SealedRecords, session, peerHttp!, clusterLogger));
        if (peers is not null)
        {
            // TCP services across the cluster: ports other edges hold listen here too (Cluster/PeerTcp.cs).
            var peerTcp = new PeerTcp(peers, state.Routes, connects, config.Limits.IdleTimeout, clusterLogger);
            peerListener!.Tcp = peerTcp;
            tcp.Peers = peerTcp;
        }
        var registry = cluster is null ? null
            : undo.Own(await ClusterRegistry.StartAsync(cluster, state, peerListener!.Advertise, fingerprint, options.Time, clusterLogger).ConfigureAwait(false));
        if (registry is not null)
        {
            peers!.Attach(registry);
        }
        var clusterBans = cluster is null ? null : undo.OwnSync(await ClusterBans.StartAsync(cluster, shield, clusterLogger).ConfigureAwait(false));
        metrics.IsReady = true;
        return server = new EdgeServer(app, admin, tcp, client, listeners, adminListener(), state, fingerprint, tokens, agents, authFailures)
        {
            Metrics = metrics,
            Acme = acme?.Manager,
            AccessLog = accessLog,
            Console = console,
            Shield = shield,
            Schemes = new SchemeSweeper(state.Routes, app.Services.GetRequiredService<EdgePolicies>(), app.Services.GetRequiredService<PolicyServices>(),
                options.Time, loggerFactory.CreateLogger<SchemeSweeper>()),
            _started = config,
            _current = config,
            _sni = sni,
            _policies = app.Services.GetRequiredService<EdgePolicies>(),
            _reloadSource = options.ReloadSource,
            _limits = liveLimits,
            _logger = logger,
            Known = known,
            _sockets = sockets,
            _forgetRestored = KnownServicesExpiry.Start(state.Routes, restored, config.Grace.Remember, options.Time, logger),
            Cluster = cluster,
            ClusterClaims = claims,
            ClusterRegistry = registry,
            _clusterBans = clusterBans,
            ClusterCounters = counters,
            ClusterRateLimits = clusterRates,
            _peerListener = peerListener,
            Peers = peers,
            _clusterStrikes = clusterStrikes,
            ClusterQuotas = clusterQuotas,
            ClusterTraffic = clusterTraffic,
        };
    }

    /// <summary>The connection to the cluster's Redis (docs/cluster.md); null for one edge alone.</summary>
    internal ClusterConnection? Cluster { get; private init; }

    /// <summary>Hostname and port ownership across the cluster; null for one edge alone.</summary>
    internal ClusterClaims? ClusterClaims { get; private init; }

    private ClusterBans? _clusterBans;
    private ClusterStrikes? _clusterStrikes;

    /// <summary>Token quotas judged with every edge's use; null for one edge alone.</summary>
    internal ClusterQuotas? ClusterQuotas { get; private init; }

    /// <summary>Each service's and token's traffic today summed over the cluster; null for one edge alone.</summary>
    internal ClusterTraffic? ClusterTraffic { get; private init; }

    /// <summary>The loop sharing rate limits, strikes and quotas through Redis; null for one edge alone.</summary>
    internal ClusterCounters? ClusterCounters { get; private init; }

    /// <summary>The policy rate limits' shared buckets; null for one edge alone.</summary>
    internal ClusterRateLimits? ClusterRateLimits { get; private init; }

    /// <summary>The edge-to-edge listener (cluster.listen); null for one edge alone.</summary>
    private PeerListener? _peerListener;

    /// <summary>Forwarding to the edges that hold a service's sessions; null for one edge alone.</summary>
    internal PeerForwarder? Peers { get; private init; }

    /// <summary>Sessions other edges hold to this one (tests).</summary>
    internal int PeerSessionCount => _peerListener?.SessionCount ?? 0;

    /// <summary>The address other edges dial to reach this one's edge-to-edge listener; null for one edge alone.</summary>
    internal string? PeerAddress => _peerListener?.Advertise;

    /// <summary>Which edge holds sessions for which service; null for one edge alone.</summary>
    internal ClusterRegistry? ClusterRegistry { get; private init; }

    /// <summary>The routed services as kept in warren.db for the next start (Routing/KnownServices.cs).</summary>
    internal KnownServices Known { get; private init; } = null!;

    private IDisposable? _forgetRestored;
    private ListenSockets _sockets = null!;
    private HandoverListener? _handover;
    private static readonly Task Never = new TaskCompletionSource().Task;

    /// <summary>Completes when a new edge took this one's listening sockets over and serves (an upgrade): drain now.</summary>
    public Task Superseded => _handover?.Superseded ?? Never;

    /// <summary>
    /// How long the TCP streams and WebSockets still open at the drain's timeout get to close after the edge ended
    /// them cleanly, before the sessions are cut and whatever is left is reset (docs/operations.md, "Restarts and upgrades").
    /// </summary>
    internal static readonly TimeSpan LongStreamCloseAllowance = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Drains: not ready from the first moment (/readyz answers 503), every listener stops accepting (public, agents,
    /// TCP ports), every agent gets GOAWAY; in-flight requests and streams may finish for up to
    /// <paramref name="grace"/> (edge.yaml <c>drain_timeout</c>); then the TCP connections and WebSockets still open
    /// are ended cleanly, as a service drain ends them (a FIN, never a reset), and whatever is left
    /// <see cref="LongStreamCloseAllowance"/> later is closed.
    /// </summary>
    public Task StopAsync(TimeSpan grace) => StopAsync(grace, LongStreamCloseAllowance);

    private async Task StopAsync(TimeSpan grace, TimeSpan closeAllowance)
    {
        using var timeout = new CancellationTokenSource(grace);
        Metrics?.IsReady = false;
        Task adminStopped = Task.CompletedTask;
        using var adminGrace = new CancellationTokenSource(TimeSpan.FromSeconds(2));
        if (_handover is { } handover)
        {
            await handover.DisposeAsync().ConfigureAwait(false); // no handover from a draining edge
            if (handover.SocketsSent)
            {
                // Upgraded: the new edge accepts on these very sockets; let go of them without closing them, and stop
                // accepting at once, the admin listener too (the new edge answers /readyz now, not this draining one).
                State.Routes.HandOver(); // before the GOAWAYs below: a request left without a session is refused unprocessed
                _sockets.DetachAll();
                adminStopped = _admin.StopAsync(adminGrace.Token);
            }
        }
        if (ClusterRegistry is not null)
        {
            await ClusterRegistry.DisposeAsync().ConfigureAwait(false); // the other edges stop forwarding here now
        }
        _tcp.StopAccepting();
        _agents.StopAccepting();
        var drains = Task.WhenAll(State.Sessions.Select(s => s.Mux.DrainAsync(grace + closeAllowance))
            .Append(_peerListener?.DrainAsync(grace + closeAllowance) ?? Task.CompletedTask));
        var publicStopped = _public.StopAsync(timeout.Token);
        if (await Task.WhenAny(drains, Task.Delay(grace)).ConfigureAwait(false) != drains)
        {
            // The long-lived streams (TCP connections, WebSockets) end their client's input, as at a service drain's
            // timeout (Tcp/TcpServiceHost.cs, Forwarding/DrainCloser.cs): each closes both ways as its backend does.
            Log.EndingLongStreams(_logger, grace.TotalSeconds);
            foreach (var entry in State.Routes.AllEntries)
            {
                entry.ExpireDrain();
            }
        }
        await publicStopped.ConfigureAwait(false);
        await drains.ConfigureAwait(false);
        await _agents.DisposeAsync().ConfigureAwait(false);
        await adminStopped.ConfigureAwait(false);
        await _admin.StopAsync(CancellationToken.None).ConfigureAwait(false);
        await _tcp.DisposeAsync().ConfigureAwait(false);
        if (Interlocked.Exchange(ref _consoleStopped, 1) == 0)
        {
            Console?.Dispose(); // after the listeners: the last requests' rows and counts are written
        }
    }

    private int _consoleStopped;

    public async ValueTask DisposeAsync()
    {
        if (Acme is not null)
        {
            await Acme.DisposeAsync().ConfigureAwait(false);
        }
        await StopAsync(TimeSpan.FromSeconds(1), TimeSpan.Zero).ConfigureAwait(false);
        await _public.DisposeAsync().ConfigureAwait(false);
        await _admin.DisposeAsync().ConfigureAwait(false);
        if (AccessLog is not null)
        {
            await AccessLog.DisposeAsync().ConfigureAwait(false); // the last lines, then the file closes
        }
        await Shield.DisposeAsync().ConfigureAwait(false); // the last bans are written
        _forgetRestored?.Dispose();
        await Known.DisposeAsync().ConfigureAwait(false); // the routes as they were at the stop
        Schemes.Dispose();
        _client.Dispose();
        if (_peerListener is not null)
        {
            await _peerListener.DisposeAsync().ConfigureAwait(false);
        }
        if (Peers is not null)
        {
            await Peers.DisposeAsync().ConfigureAwait(false);
        }
        ClusterClaims?.Dispose();
        _clusterBans?.Dispose();
        _clusterStrikes?.Dispose();
        if (ClusterCounters is not null)
        {
            await ClusterCounters.DisposeAsync().ConfigureAwait(false); // the last counts reach the other edges
        }
        if (ClusterRegistry is not null)
        {
            await ClusterRegistry.DisposeAsync().ConfigureAwait(false); // the other edges drop this one now
        }
        _tokens.Dispose();
        if (Cluster is not null)
        {
            await Cluster.DisposeAsync().ConfigureAwait(false);
        }
        _reloading.Dispose();
        _authFailures.Dispose();
    }
}
