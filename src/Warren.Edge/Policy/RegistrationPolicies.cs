using System.Runtime.CompilerServices;
using Warren.Edge.Tokens;
using Warren.Protocol.Tunnel;

namespace Warren.Edge.Policy;

/// <summary>The policies of one register message: compiled while its registrations are checked, handed to the route table with them.</summary>
internal sealed class RegistrationPolicies(EdgePolicies policies, TokenGrant grant)
{
    private readonly ConditionalWeakTable<ServiceRegistration, ServicePolicy> _compiled = [];

    /// <summary>Null when the registration's policy is acceptable; else why the service is refused.</summary>
    public string? Compile(ServiceRegistration registration)
    {
        var error = policies.Compile(registration, grant, out var policy);
        if (policy is not null)
        {
            _compiled.AddOrUpdate(registration, policy);
        }
        return error;
    }

    public ServicePolicy? PolicyOf(ServiceRegistration registration) => _compiled.TryGetValue(registration, out var policy) ? policy : null;
}
