using Prometheus;
using Warren.Edge.Routing;

namespace Warren.Edge.Policy;

/// <summary>warren_policy_denials_total{service, owner, reason}: requests and connections a policy refused (docs/observability.md).</summary>
internal sealed class PolicyMetrics(CollectorRegistry registry)
{
    private static readonly string[] Reasons = ["ip_denied", "unauthenticated", "rate_limited", "maintenance", "too_many_connections"];

    private readonly Counter _denials = Metrics.WithCustomRegistry(registry).CreateCounter(
        "warren_policy_denials_total", "Requests and connections refused by a service's policy, by reason.", ["service", "owner", "reason"]);

    public void Denied(ServiceEntry service, PolicyDenial reason) => _denials.WithLabels(service.Name, service.Owner, Reasons[(int)reason]).Inc();
}
