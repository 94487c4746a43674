using Microsoft.Extensions.Logging;
using Warren.Edge.Routing;
using Warren.Net.Time;

namespace Warren.Edge.Policy;

/// <summary>
/// Removes the JWT and OpenID Connect authentication schemes no policy in force holds any more. Each distinct
/// configuration gets its own scheme (JwtAuthenticator, OidcAuthenticator); without this, every edge.yaml reload and
/// every agent registration with a new jwt or oidc configuration would add schemes (options, handlers' key caches,
/// backchannel clients) that are never removed. Once a minute it collects the schemes of the routed services'
/// policies and of edge.yaml's, and removes the others that were unused at the sweep before too (so at least a
/// minute unused: a request that resolved its route before a reload still finds its scheme).
/// </summary>
internal sealed partial class SchemeSweeper : IDisposable
{
    private static readonly TimeSpan Interval = TimeSpan.FromMinutes(1);

    private readonly RouteTable _routes;
    private readonly EdgePolicies _edge;
    private readonly PolicyServices _services;
    private readonly ILogger _logger;
    private readonly ITimer _timer;

    public SchemeSweeper(RouteTable routes, EdgePolicies edge, PolicyServices services, TimeProvider time, ILogger logger)
    {
        (_routes, _edge, _services, _logger) = (routes, edge, services, logger);
        _timer = time.CreateAligned(static s => ((SchemeSweeper)s!).Sweep(), this, Interval);
    }

    /// <summary>One sweep (the timer's, or a test's); returns how many schemes were removed.</summary>
    public int Sweep()
    {
        var jwt = new HashSet<string>(StringComparer.Ordinal);
        var oidc = new HashSet<string>(StringComparer.Ordinal);
        var layers = _routes.RoutedServices.SelectMany(s => s.Policy?.Layers ?? []).Concat(_edge.Layers);
        foreach (var layer in layers)
        {
            if (layer.Jwt is { } j)
            {
                jwt.Add(j.Scheme);
            }
            if (layer.Oidc is { } o)
            {
                oidc.Add(o.SchemeId);
            }
        }
        var removed = _services.RemoveUnusedSchemes(jwt, oidc);
        if (removed > 0)
        {
            Log.Removed(_logger, removed);
        }
        return removed;
    }

    /// <summary>The JWT and OIDC schemes the edge has registered now (tests).</summary>
    public async Task<string[]> SchemeNamesAsync() =>
        [.. (await _services.Schemes.GetAllSchemesAsync().ConfigureAwait(false)).Select(s => s.Name).Where(n => n.StartsWith("warren-", StringComparison.Ordinal))];

    public void Dispose() => _timer.Dispose();

    private static partial class Log
    {
        [LoggerMessage(703, LogLevel.Debug, "Removed {Count} authentication scheme(s) no policy holds any more", EventName = "PolicySchemesRemoved")]
        public static partial void Removed(ILogger logger, int count);
    }
}
