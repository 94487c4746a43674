using System.Collections.Concurrent;
using System.Net;
using System.Net.Http;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.Extensions.Options;

namespace Warren.Edge.Policy;

/// <summary>
/// What compiling a policy needs from the edge: the clock, one HTTP client for every forward-auth call, and the
/// authentication schemes the JWT layers run on (ASP.NET Core's JwtBearer handler, one scheme per distinct config).
/// </summary>
internal sealed class PolicyServices(TimeProvider time, IAuthenticationSchemeProvider schemes, IOptionsMonitorCache<JwtBearerOptions> jwtOptions) : IDisposable
{
    public TimeProvider Time { get; } = time;

    public IAuthenticationSchemeProvider Schemes { get; } = schemes;

    public IOptionsMonitorCache<JwtBearerOptions> JwtOptions { get; } = jwtOptions;

    /// <summary>JWT configuration (as JSON) to the scheme registered for it on this edge.</summary>
    public ConcurrentDictionary<string, string> JwtSchemes { get; } = new(StringComparer.Ordinal);

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
