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

    /// <summary>JWT configuration (as JSON) to the scheme registered for it on this edge.</summary>
    public ConcurrentDictionary<string, string> JwtSchemes { get; } = new(StringComparer.Ordinal);

    /// <summary>OIDC configuration hash to the options of the scheme registered for it on this edge.</summary>
    public ConcurrentDictionary<string, OpenIdConnectOptions> OidcSchemes { get; } = new(StringComparer.Ordinal);

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
