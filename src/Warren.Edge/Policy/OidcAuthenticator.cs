using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Authentication.OpenIdConnect;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.IdentityModel.Protocols.OpenIdConnect;
using Warren.Configuration;

namespace Warren.Edge.Policy;

/// <summary>
/// <c>oidc</c>: an OpenID Connect login in front of a service (docs/policy.md, "OpenID Connect login"), run by ASP.NET
/// Core's OpenIdConnect handler (authorization code flow with PKCE, state and nonce, the provider's discovery and
/// keys) and its Cookie handler (the session: an encrypted, authenticated ticket under the edge's Data Protection
/// keys, kept in the data directory so sessions survive a restart). Each distinct configuration gets one pair of
/// schemes, named from a hash of the configuration: the name is part of the cookie's encryption purpose, so the
/// same configuration reads the same cookies after a restart, and a different one (another provider, another
/// client) never accepts them. The client secret is left out of that hash: part of the hash shows in the cookie's
/// name, and it must say nothing about the secret; a new secret for the same configuration is written into the scheme's
/// options instead (the newest registration's or reload's secret is used). The allow-lists are checked on every request, not baked into the cookie.
/// </summary>
internal sealed partial class OidcAuthenticator
{
    /// <summary>Every cookie of an OIDC session or login starts with this; they are removed before a request reaches a service.</summary>
    public const string CookiePrefix = "_warren_oidc";

    private readonly string _cookieScheme;
    private readonly string _oidcScheme;
    private readonly OpenIdConnectOptions _options;
    private readonly PathString _callback;
    private readonly PathString _logout;
    private readonly PathString _signedOut;
    private readonly HashSet<string> _emails;
    private readonly HashSet<string> _domains;
    private readonly HashSet<string> _groups;
    private readonly string _groupsClaim;

    private OidcAuthenticator(OidcConfig config, PolicyServices services)
    {
        IdentityHeaders = [.. config.IdentityHeaders.Select(p => (p.Key, p.Value))];
        _emails = new HashSet<string>(config.AllowedEmails, StringComparer.OrdinalIgnoreCase);
        _domains = new HashSet<string>(config.AllowedDomains, StringComparer.OrdinalIgnoreCase);
        _groups = new HashSet<string>(config.AllowedGroups, StringComparer.Ordinal);
        _groupsClaim = config.GroupsClaim;
        _callback = new PathString(config.CallbackPath);
        _logout = new PathString(config.LogoutPath);
        _signedOut = new PathString(config.LogoutPath + "/done");
        var key = SchemeKey.Of(
            config.Issuer, config.MetadataUrl, config.ClientId, config.Scopes, config.CallbackPath, config.LogoutPath,
            config.CookieDomain, config.SessionLifetime.Ticks, config.GroupsClaim, config.IdentityHeaders.Values.Order(StringComparer.Ordinal));
        var id = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)))[..16];
        _cookieScheme = SessionScheme(id);
        _oidcScheme = LoginScheme(id);
        services.LoadKeys();
        SchemeId = id;
        _options = services.AcquireScheme(services.OidcSchemes, id, static (id, state) =>
        {
            var (config, services, self) = state;
            var cookie = self.CreateCookieOptions(config, id, services);
            var oidc = self.CreateOidcOptions(config, services);
            oidc.Validate(self._oidcScheme); // a configuration the handler cannot run refuses the service now, not at the first login
            services.CookieOptions.TryAdd(self._cookieScheme, cookie);
            services.OidcOptions.TryAdd(self._oidcScheme, oidc);
            services.Schemes.TryAddScheme(new AuthenticationScheme(self._cookieScheme, null, typeof(CookieAuthenticationHandler)));
            services.Schemes.TryAddScheme(new AuthenticationScheme(self._oidcScheme, null, typeof(OpenIdConnectHandler)));
            return oidc;
        }, (config, services, this), static _ => null);
        // The secret is left out of the scheme's name (above), so a reload or a registration that changes only the
        // secret (a rotation) finds the scheme made with the old one: it takes the new secret here. The handler reads
        // it at each code redemption, so the next login uses it, and sessions signed in before stay valid.
        if (!string.Equals(_options.ClientSecret, config.ClientSecret, StringComparison.Ordinal))
        {
            _options.ClientSecret = config.ClientSecret;
        }
    }

    /// <summary>The hash naming this login's two schemes (warren-oidc-ID, warren-oidc-session-ID); SchemeSweeper keeps them while a policy holds them.</summary>
    public string SchemeId { get; }

    /// <summary>The OpenID Connect handler's scheme of the login <paramref name="id"/>.</summary>
    public static string LoginScheme(string id) => "warren-oidc-" + id;

    /// <summary>The session cookie's scheme of the login <paramref name="id"/>.</summary>
    public static string SessionScheme(string id) => "warren-oidc-session-" + id;

    /// <summary>Header name to claim type, set on the forwarded request from the signed-in user.</summary>
    public (string Header, string Claim)[] IdentityHeaders { get; }

    public static OidcAuthenticator? Compile(OidcConfig? config, PolicyServices services) => config is null ? null : new(config, services);

    /// <summary>
    /// The login's own paths: the provider's redirect back (callback), logout, and the return from the provider's
    /// logout. True when the request was one of them and has been answered.
    /// </summary>
    public async Task<bool> HandleOwnPathsAsync(HttpContext context)
    {
        var path = context.Request.Path;
        if (path.Equals(_logout, StringComparison.Ordinal))
        {
            await context.SignOutAsync(_cookieScheme).ConfigureAwait(false);
            var configuration = await GetConfigurationAsync(context.RequestAborted).ConfigureAwait(false);
            if (configuration?.EndSessionEndpoint is { Length: > 0 })
            {
                // The provider's session ends too; it sends the browser back to {logout_path}/done, then to /.
                await context.SignOutAsync(_oidcScheme, new AuthenticationProperties { RedirectUri = "/" }).ConfigureAwait(false);
            }
            else
            {
                context.Response.Redirect("/");
            }
            return true;
        }
        if (path.Equals(_callback, StringComparison.Ordinal) || path.Equals(_signedOut, StringComparison.Ordinal))
        {
            var handlers = context.RequestServices.GetRequiredService<IAuthenticationHandlerProvider>();
            return await handlers.GetHandlerAsync(context, _oidcScheme).ConfigureAwait(false) is IAuthenticationRequestHandler handler
                && await handler.HandleRequestAsync().ConfigureAwait(false);
        }
        return false;
    }

    /// <summary>The signed-in user when the session cookie is valid and the allow-lists let them in; Forbidden when only the lists refuse.</summary>
    public async Task<(ClaimsPrincipal? Principal, bool Forbidden)> AuthenticateAsync(HttpContext context)
    {
        if (!HasSessionCookie(context.Request))
        {
            return (null, false); // the common refusal costs no handler
        }
        var result = await context.AuthenticateAsync(_cookieScheme).ConfigureAwait(false);
        if (!result.Succeeded || result.Principal is not { } principal)
        {
            return (null, false);
        }
        return Allows(principal) ? (principal, false) : (null, true);
    }

    /// <summary>302 to the provider's authorization endpoint (with state, nonce and a PKCE challenge); back to this URL after.</summary>
    public Task ChallengeAsync(HttpContext context)
    {
        var request = context.Request;
        var back = string.Concat(request.PathBase.ToUriComponent(), request.Path.ToUriComponent(), request.QueryString.ToUriComponent());
        return context.ChallengeAsync(_oidcScheme, new AuthenticationProperties { RedirectUri = back });
    }

    /// <summary>The value for an identity header: every value of the claim, joined by ",".</summary>
    public static string? ClaimValue(ClaimsPrincipal principal, string claim)
    {
        var values = principal.FindAll(claim).Select(c => c.Value).Distinct(StringComparer.Ordinal).ToArray();
        return values.Length == 0 ? null : string.Join(',', values);
    }

    /// <summary>Removes the edge's own login cookies from the request a service receives: the session is the edge's, not the service's.</summary>
    public static void StripCookies(HttpRequest request)
    {
        var cookies = request.Headers.Cookie;
        if (cookies.Count == 0 || !cookies.Any(c => c?.Contains(CookiePrefix, StringComparison.Ordinal) == true))
        {
            return;
        }
        var kept = cookies.SelectMany(c => (c ?? "").Split(';'))
            .Select(c => c.Trim())
            .Where(c => c.Length > 0 && !c.StartsWith(CookiePrefix, StringComparison.Ordinal))
            .ToArray();
        if (kept.Length == 0)
        {
            request.Headers.Remove("Cookie");
        }
        else
        {
            request.Headers.Cookie = string.Join("; ", kept);
        }
    }

    private static bool HasSessionCookie(HttpRequest request) => request.Headers.Cookie.Any(c => c?.Contains(CookiePrefix, StringComparison.Ordinal) == true);

    /// <summary>
    /// No list: anyone the provider signs in. Otherwise any one list that names the user: their e-mail address or its
    /// domain (only when the provider does not say the address is unverified), or one of their groups.
    /// </summary>
    private bool Allows(ClaimsPrincipal principal)
    {
        if (_emails.Count == 0 && _domains.Count == 0 && _groups.Count == 0)
        {
            return true;
        }
        var email = principal.FindFirst("email")?.Value;
        var unverified = principal.FindFirst("email_verified")?.Value is { } verified && !string.Equals(verified, "true", StringComparison.OrdinalIgnoreCase);
        if (email is not null && !unverified)
        {
            if (_emails.Contains(email))
            {
                return true;
            }
            var at = email.LastIndexOf('@');
            if (at > 0 && _domains.Contains(email[(at + 1)..]))
            {
                return true;
            }
        }
        return _groups.Count > 0 && principal.FindAll(_groupsClaim).Any(c => _groups.Contains(c.Value));
    }

    private async Task<OpenIdConnectConfiguration?> GetConfigurationAsync(CancellationToken cancellationToken)
    {
        try
        {
            return _options.ConfigurationManager is { } manager ? await manager.GetConfigurationAsync(cancellationToken).ConfigureAwait(false) : null;
        }
        catch (InvalidOperationException)
        {
            return null; // the provider is unreachable: the edge's session is gone all the same
        }
    }

    private CookieAuthenticationOptions CreateCookieOptions(OidcConfig config, string id, PolicyServices services)
    {
        var options = new CookieAuthenticationOptions
        {
            ExpireTimeSpan = config.SessionLifetime,
            SlidingExpiration = true,
            TimeProvider = services.Time,
        };
        options.Cookie.Name = $"{CookiePrefix}_{id[..8]}";
        options.Cookie.Domain = config.CookieDomain;
        options.Cookie.Path = "/";
        options.Cookie.HttpOnly = true;
        // Lax: sent on the top-level navigation back from the provider, never on cross-site subrequests. Secure
        // whenever the request came over HTTPS (docs/policy.md: serve such services over HTTPS).
        options.Cookie.SameSite = SameSiteMode.Lax;
        options.Cookie.SecurePolicy = CookieSecurePolicy.SameAsRequest;
        options.Events.OnRedirectToLogin = static context =>
        {
            context.Response.StatusCode = StatusCodes.Status401Unauthorized; // never used: the OIDC scheme challenges
            return Task.CompletedTask;
        };
        new PostConfigureCookieAuthenticationOptions(services.DataProtection).PostConfigure(_cookieScheme, options);
        return options;
    }

    private OpenIdConnectOptions CreateOidcOptions(OidcConfig config, PolicyServices services)
    {
        var metadata = config.MetadataUrl ?? config.Issuer.TrimEnd('/') + "/.well-known/openid-configuration";
        var options = new OpenIdConnectOptions
        {
            Authority = config.Issuer,
            MetadataAddress = metadata,
            RequireHttpsMetadata = !new Uri(metadata).IsLoopback,
            ClientId = config.ClientId,
            ClientSecret = config.ClientSecret,
            ResponseType = OpenIdConnectResponseType.Code,
            // Query, not form_post: the redirect back is a top-level GET, so the correlation cookies can be SameSite=Lax.
            ResponseMode = OpenIdConnectResponseMode.Query,
            UsePkce = true,
            CallbackPath = _callback,
            SignedOutCallbackPath = _signedOut,
            SignedOutRedirectUri = "/",
            SignInScheme = _cookieScheme,
            SignOutScheme = _cookieScheme,
            MapInboundClaims = false,
            GetClaimsFromUserInfoEndpoint = true,
            SaveTokens = false, // the cookie carries the identity, not the provider's tokens
            TimeProvider = services.Time,
        };
        options.Scope.Clear();
        foreach (var scope in config.Scopes.Prepend("openid").Distinct(StringComparer.Ordinal))
        {
            options.Scope.Add(scope);
        }
        options.TokenValidationParameters.NameClaimType = "name";
        // Claims the allow-lists and headers read, taken from the userinfo answer as well as the ID token.
        options.ClaimActions.MapJsonKey(config.GroupsClaim, config.GroupsClaim);
        foreach (var claim in config.IdentityHeaders.Values.Append("email").Append("email_verified").Distinct(StringComparer.Ordinal))
        {
            if (claim != config.GroupsClaim)
            {
                options.ClaimActions.MapUniqueJsonKey(claim, claim);
            }
        }
        foreach (var cookie in new[] { options.CorrelationCookie, options.NonceCookie })
        {
            cookie.SameSite = SameSiteMode.Lax;
            cookie.SecurePolicy = CookieSecurePolicy.SameAsRequest;
        }
        options.CorrelationCookie.Name = CookiePrefix + "_correlation.";
        options.NonceCookie.Name = CookiePrefix + "_nonce.";
        var logger = services.LoggerFactory.CreateLogger<OidcAuthenticator>();
        options.Events.OnRedirectToIdentityProviderForSignOut = context =>
        {
            context.ProtocolMessage.ClientId = config.ClientId; // RP-initiated logout names the client (no id_token is kept)
            return Task.CompletedTask;
        };
        options.Events.OnRemoteFailure = async context =>
        {
            // A refused or broken login (the user declined, the state cookie expired, the code was refused): a
            // plain answer instead of the handler's exception; a new visit starts a new login.
            Log.LoginFailed(logger, context.Request.Host.Host, context.Failure?.Message ?? "unknown");
            context.HandleResponse();
            context.Response.StatusCode = StatusCodes.Status403Forbidden;
            context.Response.ContentType = "text/plain; charset=utf-8";
            await context.Response.WriteAsync("The login did not complete. Open the page again to start a new login.\n").ConfigureAwait(false);
        };
        new OpenIdConnectPostConfigureOptions(services.DataProtection).PostConfigure(_oidcScheme, options);
        return options;
    }

    private static partial class Log
    {
        [LoggerMessage(702, LogLevel.Information, "OpenID Connect login for {Host} failed: {Reason}", EventName = "OidcLoginFailed")]
        public static partial void LoginFailed(ILogger logger, string host, string reason);
    }
}
