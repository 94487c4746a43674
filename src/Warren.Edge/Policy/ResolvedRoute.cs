using Warren.Edge.Routing;

namespace Warren.Edge.Policy;

/// <summary>
/// The route the policy middleware resolved for a request (a request feature), so later steps need not match the
/// Host and path again. Set only while some service has a policy (<see cref="RouteTable.HasPolicies"/>); the
/// service is null when nothing matched. The forwarding step may take it instead of re-resolving.
/// </summary>
internal sealed class ResolvedRoute(ServiceEntry? service)
{
    public ServiceEntry? Service { get; } = service;
}
