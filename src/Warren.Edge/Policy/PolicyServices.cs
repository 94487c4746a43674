using System.Collections.Concurrent;
using System.Net;
using System.Net.Http;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.AspNetCore.Authentication.OpenIdConnect;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Warren.Edge.Policy;

/// <summary>
/// What compiling a policy needs from the edge: the clock, one HTTP client for every forward-auth call, and the
/// authentication schemes the JWT and OpenID Connect layers run on (ASP.NET Core's handlers, added at run time,
/// one scheme per distinct configuration).
/// </summary>
internal sealed class PolicyServices(
    TimeProvider time,
    IAuthenticationSchemeProvider schemes,
    IOptionsMonitorCache<JwtBearerOptions> jwtOptions,
    IOptionsMonitorCache<OpenIdConnectOptions> oidcOptions,
    IOptionsMonitorCache<CookieAuthenticationOptions> cookieOptions,
    IDataProtectionProvider dataProtection,
    ILoggerFactory loggerFactory) : IDisposable
{
    public TimeProvider Time { get; } = time;

    public IAuthenticationSchemeProvider Schemes { get; } = schemes;

    public IOptionsMonitorCache<JwtBearerOptions> JwtOptions { get; } = jwtOptions;

    public IOptionsMonitorCache<OpenIdConnectOptions> OidcOptions { get; } = oidcOptions;

    public IOptionsMonitorCache<CookieAuthenticationOptions> CookieOptions { get; } = cookieOptions;

    /// <summary>The edge's Data Protection keys (persisted in the data directory): OIDC session cookies and login state.</summary>
    public IDataProtectionProvider DataProtection { get; } = dataProtection;

    private int _keysLoaded;

    /// <summary>
    /// Loads the Data Protection key ring (creating the first key) when the first OIDC login is compiled, so that file
    /// work is done on the registration path and not by the first login's request on a socket thread.
    /// </summary>
    public void LoadKeys()
    {
        if (Interlocked.Exchange(ref _keysLoaded, 1) == 0)
        {
            DataProtection.CreateProtector("warren-policy-keys").Protect([0]);
        }
    }

    public ILoggerFactory LoggerFactory { get; } = loggerFactory;

    /// <summary>JWT configuration (as JSON) to the scheme registered for it on this edge (taken through <see cref="AcquireScheme"/>).</summary>
    public ConcurrentDictionary<string, string> JwtSchemes { get; } = new(StringComparer.Ordinal);

    /// <summary>OIDC configuration hash to the options of the scheme registered for it on this edge.</summary>
    public ConcurrentDictionary<string, OpenIdConnectOptions> OidcSchemes { get; } = new(StringComparer.Ordinal);

    private readonly Lock _schemes = new();
    private HashSet<string> _unused = new(StringComparer.Ordinal);

    /// <summary>
    /// The scheme of <paramref name="key"/>, added by <paramref name="add"/> if there is none. Taking one clears any
    /// mark the last sweep gave it, so a scheme a registration just took is never removed under it.
    /// </summary>
    public TValue AcquireScheme<TValue, TState>(ConcurrentDictionary<string, TValue> schemes, string key, Func<string, TState, TValue> add, TState state, Func<TValue, string?> name)
    {
        lock (_schemes)
        {
            var value = schemes.GetOrAdd(key, add, state);
            _unused.Remove(name(value) ?? key);
            return value;
        }
    }

    /// <summary>
    /// Removes the JWT and OIDC schemes no policy in force holds (<paramref name="liveJwt"/>: scheme names,
    /// <paramref name="liveOidc"/>: login ids) that were already unused at the previous sweep and not taken since:
    /// a request that resolved its route just before a reload still finds its scheme. Returns how many went.
    /// </summary>
    public int RemoveUnusedSchemes(IReadOnlySet<string> liveJwt, IReadOnlySet<string> liveOidc)
    {
        var removed = 0;
        lock (_schemes)
        {
            var unused = new HashSet<string>(StringComparer.Ordinal);
            foreach (var (key, scheme) in JwtSchemes)
            {
                if (liveJwt.Contains(scheme))
                {
                    continue;
                }
                if (!_unused.Contains(scheme))
                {
                    unused.Add(scheme);
                    continue;
                }
                JwtSchemes.TryRemove(key, out _);
                Schemes.RemoveScheme(scheme);
                JwtOptions.TryRemove(scheme);
                removed++;
            }
            foreach (var (id, options) in OidcSchemes)
            {
                if (liveOidc.Contains(id))
                {
                    continue;
                }
                if (!_unused.Contains(id))
                {
                    unused.Add(id);
                    continue;
                }
                OidcSchemes.TryRemove(id, out _);
                foreach (var scheme in new[] { OidcAuthenticator.LoginScheme(id), OidcAuthenticator.SessionScheme(id) })
                {
                    Schemes.RemoveScheme(scheme);
                }
                OidcOptions.TryRemove(OidcAuthenticator.LoginScheme(id));
                CookieOptions.TryRemove(OidcAuthenticator.SessionScheme(id));
                options.Backchannel?.Dispose();
                removed++;
            }
            _unused = unused;
        }
        return removed;
    }

    /// <summary>Forward auth: no redirects followed (a 302 to a login page goes back to the client), no cookies kept, no proxy.</summary>
    public HttpClient ForwardAuthClient { get; } = new(new SocketsHttpHandler
    {
        AllowAutoRedirect = false,
        UseCookies = false,
        UseProxy = false,
        AutomaticDecompression = DecompressionMethods.None,
        PooledConnectionIdleTimeout = TimeSpan.FromSeconds(30),
    })
    {
        Timeout = Timeout.InfiniteTimeSpan, // each call has the policy's own timeout
    };

    public void Dispose() => ForwardAuthClient.Dispose();
}
