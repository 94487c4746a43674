using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Warren.Admin;

/// <summary>
/// Data Protection registers a hosted service that reads (or creates) the default key ring when the host starts. The
/// admin listeners protect with an ephemeral provider that never reads it, and the edge's public app needs its keys
/// only at the first OIDC login (Policy/DeferredDataProtectionProvider.cs); loading it at start cost every edge (and
/// every agent with an admin listener) the XML stack (about 4 MB of RSS, docs/performance.md "Memory") and a key
/// file it never used.
/// </summary>
internal static class KeyRingPreload
{
    private const string HostedService = "Microsoft.AspNetCore.DataProtection.Internal.DataProtectionHostedService";

    /// <summary>Removes the preload; call after the last registration that may add Data Protection (it re-adds it).</summary>
    public static IServiceCollection WithoutKeyRingPreload(this IServiceCollection services)
    {
        for (var i = services.Count - 1; i >= 0; i--)
        {
            if (services[i].ServiceType == typeof(IHostedService) && services[i].ImplementationType?.FullName == HostedService)
            {
                services.RemoveAt(i);
            }
        }
        return services;
    }
}
