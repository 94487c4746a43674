using System.Globalization;
using Microsoft.Extensions.Logging;
using Warren.Configuration;
using Warren.Edge.Policy;
using Warren.Edge.Routing;
using Warren.Edge.Tokens;
using Warren.Protocol.Tunnel;

namespace Warren.Edge.Agents;

/// <summary>
/// The edge's answer to an agent's <c>register</c> message (docs/protocol.md §10.2). Nothing in it is trusted: the
/// count of services is capped before any work, every field is checked with the rules agent.yaml follows
/// (Warren.Configuration's <see cref="ServiceRules"/> and <see cref="HostNames"/>), hostnames are normalised once,
/// the token's grant is checked, its policy compiled (docs/policy.md), and only then does the route table look for
/// conflicts. Each refusal goes back to
/// the agent with its reason; the log gets a bounded number of them, quoted safely (docs/security.md, "Registration").
/// </summary>
internal sealed partial class RegistrationHandler(RouteTable routes, EdgePolicies policies, int maxServicesPerSession, TimeProvider time, ILogger<RegistrationHandler> logger)
{
    /// <summary>limits.max_services_per_session; set again on reload (the next registration is held to it).</summary>
    public int MaxServicesPerSession { get; set; } = maxServicesPerSession;

    /// <summary>Fewest time between two registrations of one session: a hostile agent repeating them costs at most one per second.</summary>
    public static readonly TimeSpan MinInterval = TimeSpan.FromSeconds(1);

    /// <summary>Refusals logged one by one per registration; the rest are counted in one line (they all reach the agent).</summary>
    private const int MaxLoggedRefusals = 10;

    /// <summary>Waits out <see cref="MinInterval"/> since the session's previous registration, then handles this one.</summary>
    public async ValueTask<ControlMessage> HandleAsync(AgentSession agent, IReadOnlyList<ServiceRegistration> services, CancellationToken cancellationToken)
    {
        if (agent.LastRegistration is { } last && time.GetElapsedTime(last) is var since && since < MinInterval)
        {
            await Task.Delay(MinInterval - since, time, cancellationToken).ConfigureAwait(false);
        }
        agent.LastRegistration = time.GetTimestamp();
        if (Cluster is not { } cluster || services.Count > MaxServicesPerSession)
        {
            return Handle(agent, services);
        }
        // In a cluster a name is owned once cluster-wide (docs/cluster.md, "Ownership"): the claims go to Redis first,
        // then the route table checks this edge's own conflicts as it always does.
        var claims = await cluster.ClaimAsync(agent.TokenName, Claims(agent.Grant!, services, policies)).ConfigureAwait(false);
        return Register(agent, claims);
    }

    /// <summary>Cluster ownership (docs/cluster.md); null for one edge alone.</summary>
    public Cluster.ClusterClaims? Cluster { get; init; }

    /// <summary>Registers what may be registered and returns the <c>register_result</c> to send.</summary>
    public ControlMessage Handle(AgentSession agent, IReadOnlyList<ServiceRegistration> services)
    {
        var maxServices = MaxServicesPerSession;
        if (services.Count > maxServices)
        {
            // Refused whole, before any work, with one short answer: a result per service would be as large as the
            // oversized message itself.
            var error = $"{services.Count} services in one registration; this edge accepts at most {maxServices} per session (limits.max_services_per_session)";
            Log.TooManyServices(logger, agent.ToString(), services.Count, maxServices);
            return new ControlMessage { Type = ControlMessage.RegisterResult, Results = [], Error = error };
        }
        return Register(agent, Claims(agent.Grant!, services, policies));
    }

    private ControlMessage Register(AgentSession agent, IReadOnlyList<ServiceClaim> claims)
    {
        var results = routes.Register(agent, claims);
        var refused = 0;
        foreach (var result in results.Where(r => !r.Ok))
        {
            if (++refused <= MaxLoggedRefusals)
            {
                Log.Refused(logger, agent.ToString(), LogText.Bound(result.Name, 80), result.Error!);
            }
        }
        if (refused > MaxLoggedRefusals)
        {
            Log.MoreRefused(logger, agent.ToString(), refused - MaxLoggedRefusals);
        }
        Log.Registered(logger, agent.ToString(), results.Count - refused, results.Count);
        return new ControlMessage { Type = ControlMessage.RegisterResult, Results = results };
    }

    /// <summary>
    /// Each service checked and normalised, in order, with its compiled policy; a refused one carries why. Names must be
    /// unique within one registration.
    /// </summary>
    internal static IReadOnlyList<ServiceClaim> Claims(TokenGrant grant, IReadOnlyList<ServiceRegistration> services, EdgePolicies policies)
    {
        var claims = new List<ServiceClaim>(services.Count);
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var service in services)
        {
            var (normalized, problem) = Check(service);
            if (problem is null && !names.Add(service.Name))
            {
                problem = $"service name '{service.Name}' appears more than once in this registration";
            }
            ServicePolicy? policy = null;
            problem ??= grant.Check(normalized) ?? policies.Compile(normalized, grant, out policy);
            claims.Add(new ServiceClaim(normalized, problem, policy));
        }
        return claims;
    }

    /// <summary>The same rules agent.yaml's services follow (Validator.CheckServices), with hostnames put in normal form.</summary>
    internal static (ServiceRegistration Normalized, string? Problem) Check(ServiceRegistration service)
    {
        if (!ServiceRules.IsName(service.Name))
        {
            return (service, ServiceRules.NameProblem(service.Name, "service"));
        }
        if (service.Private == true)
        {
            // Reached only through warren connect (docs/protocol.md §10.4): raw bytes, nothing to listen on.
            if (service.Kind != "tcp" || service.Port is not null || service.Hostnames.Count > 0 || service.PathPrefix is not null)
            {
                return (service, "a private service needs kind tcp, and no port, hostnames or path prefix");
            }
        }
        else
        {
            switch (service.Kind)
            {
                case "http" when service.Hostnames.Count == 0 || service.Port is not null:
                    return (service, "an HTTP service needs hostnames and no port");
                case "tcp" when service.Port is not (>= 1 and <= 65535) || service.Hostnames.Count > 0 || service.PathPrefix is not null:
                    return (service, "a TCP service needs a port 1..65535, and no hostnames or path prefix");
                case "http" or "tcp":
                    break;
                default:
                    return (service, $"unknown service kind '{LogText.Bound(service.Kind, 16)}'; use http or tcp");
            }
        }
        if (service.Hostnames.Count > ServiceRules.MaxHostnamesPerService)
        {
            return (service, $"{service.Hostnames.Count} hostnames; a service may have at most {ServiceRules.MaxHostnamesPerService}");
        }
        if (service.PathPrefix is { } prefix && ServiceRules.PathPrefixProblem(prefix) is { } prefixProblem)
        {
            return (service, "path_prefix " + prefixProblem);
        }
        if (service.MaxConcurrency is < 0 or > ServiceRules.MaxConcurrency)
        {
            return (service, $"max_concurrency must be 1 to {ServiceRules.MaxConcurrency} (it is {service.MaxConcurrency})");
        }
        if (service.ResponseTimeoutMs is { } timeout
            && (timeout < ServiceRules.MinResponseTimeout.TotalMilliseconds || timeout > ServiceRules.MaxResponseTimeout.TotalMilliseconds))
        {
            return (service, string.Create(CultureInfo.InvariantCulture,
                $"response_timeout_ms must be {ServiceRules.MinResponseTimeout.TotalMilliseconds} to {ServiceRules.MaxResponseTimeout.TotalMilliseconds} (it is {timeout})"));
        }
        if (service.MaxRequestBodySize is <= 0)
        {
            return (service, $"max_request_body_size must be more than 0 bytes (it is {service.MaxRequestBodySize}); leave it out to use the edge's limit");
        }
        var hostnames = new string[service.Hostnames.Count];
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < hostnames.Length; i++)
        {
            if (!HostNames.TryNormalize(service.Hostnames[i], allowWildcard: true, out var host, out var hostProblem))
            {
                return (service, hostProblem);
            }
            if (!seen.Add(host))
            {
                return (service, $"hostname {host} is listed more than once");
            }
            hostnames[i] = host;
        }
        return (service with { Hostnames = hostnames }, null);
    }

    private static partial class Log
    {
        [LoggerMessage(203, LogLevel.Information, "Agent {Agent} registered {Ok}/{Total} services", EventName = "AgentRegistered")]
        public static partial void Registered(ILogger logger, string agent, int ok, int total);

        [LoggerMessage(204, LogLevel.Warning, "Agent {Agent}: service {Service} refused: {Reason}", EventName = "RegistrationRefused")]
        public static partial void Refused(ILogger logger, string agent, string service, string reason);

        [LoggerMessage(210, LogLevel.Warning, "Agent {Agent}: {More} more services refused (reasons sent to the agent)", EventName = "RegistrationRefusedMore")]
        public static partial void MoreRefused(ILogger logger, string agent, int more);

        [LoggerMessage(211, LogLevel.Warning, "Agent {Agent}: registration of {Count} services refused whole; the limit is {Max} per session (limits.max_services_per_session)", EventName = "RegistrationTooLarge")]
        public static partial void TooManyServices(ILogger logger, string agent, int count, int max);
    }
}
