using Warren.Protocol.Tunnel;

namespace Warren.Edge.Routing;

/// <summary>
/// One service an agent asks to publish, normalised; <see cref="Refusal"/> is set when it was refused before routing
/// looked at it, <see cref="Policy"/> is what the service enforces once routed (docs/policy.md).
/// </summary>
internal readonly record struct ServiceClaim(ServiceRegistration Registration, string? Refusal, Policy.ServicePolicy? Policy = null);
