using Microsoft.AspNetCore.DataProtection;
using Microsoft.Extensions.DependencyInjection;

namespace Warren.Edge.Policy;

/// <summary>
/// The edge's Data Protection provider, resolved from the container when the first protector is made (the first OIDC
/// login compiled: PolicyServices.LoadKeys, the cookie and OIDC schemes), not when the edge starts. Building it
/// loads the XML stack and makes the keys folder, about 4 MB of RSS that most edges, which never use OIDC, do not need
/// (docs/performance.md, "Memory").
/// </summary>
internal sealed class DeferredDataProtectionProvider(IServiceProvider services) : IDataProtectionProvider
{
    public IDataProtector CreateProtector(string purpose) => services.GetRequiredService<IDataProtectionProvider>().CreateProtector(purpose);
}
