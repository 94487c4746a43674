using System.Security.Claims;
using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace Warren.Admin;

/// <summary>
/// One login for everything on an admin listener, the console's pages and the API alike (docs/console.md, "Logging
/// in"): <c>Authorization: Bearer ADMIN_TOKEN</c> for scripts, or the console's login form, which trades the token
/// for a session cookie (ASP.NET Core's cookie authentication: HttpOnly, SameSite=Strict, sliding expiry). A request
/// that the cookie authenticates and that changes anything must also carry an antiforgery token (ASP.NET Core's
/// antiforgery), so a page on another site cannot make the browser act for the operator; every answer forbids
/// framing. <see cref="AdminGate"/> applies it to every path, so an endpoint added later is covered too.
/// </summary>
internal static class AdminSecurity
{
    public const string BearerScheme = "WarrenAdminBearer";
    public const string CookieScheme = "WarrenAdminCookie";
    public const string CsrfHeader = "X-CSRF-Token";
    public const string CsrfField = "__csrf";

    public static IServiceCollection AddWarrenAdmin(this IServiceCollection services, AdminOptions options)
    {
        services.AddSingleton(options);
        services.AddSingleton(new LoginLimiter(options.LoginAttemptsPerMinute));
        // Keys live in memory only: a restart logs everyone out, and no key file sits in the data directory to steal.
        services.AddSingleton<IDataProtectionProvider>(new EphemeralDataProtectionProvider());
        services.AddAuthentication(CookieScheme)
            .AddScheme<AuthenticationSchemeOptions, AdminBearerHandler>(BearerScheme, null)
            .AddCookie(CookieScheme, cookie =>
            {
                cookie.Cookie.Name = options.CookieName;
                cookie.Cookie.HttpOnly = true;
                cookie.Cookie.SameSite = SameSiteMode.Strict;
                cookie.Cookie.SecurePolicy = CookieSecurePolicy.SameAsRequest;
                cookie.Cookie.Path = "/";
                cookie.ExpireTimeSpan = options.SessionIdle;
                cookie.SlidingExpiration = true;
                // AdminGate answers unauthenticated requests itself (a redirect for pages, 401 for the rest).
                cookie.Events.OnRedirectToLogin = c =>
                {
                    c.Response.StatusCode = StatusCodes.Status401Unauthorized;
                    return Task.CompletedTask;
                };
            });
        services.AddAntiforgery(antiforgery =>
        {
            antiforgery.Cookie.Name = options.AntiforgeryCookieName;
            antiforgery.Cookie.SameSite = SameSiteMode.Strict;
            antiforgery.Cookie.HttpOnly = true;
            antiforgery.Cookie.SecurePolicy = CookieSecurePolicy.SameAsRequest;
            antiforgery.HeaderName = CsrfHeader;
            antiforgery.FormFieldName = CsrfField;
            antiforgery.SuppressXFrameOptionsHeader = true; // AdminGate sends DENY on every answer
        });
        return services.WithoutKeyRingPreload(); // the ephemeral provider above never reads the key ring
    }

    /// <summary>Puts the gate in front of everything and maps the login, logout and asset endpoints.</summary>
    public static WebApplication UseWarrenAdmin(this WebApplication app)
    {
        var gate = new AdminGate(app.Services.GetRequiredService<AdminOptions>(), app.Services.GetRequiredService<IAntiforgery>());
        app.Use(gate.InvokeAsync);
        LoginEndpoints.Map(app);
        ConsoleAssets.Map(app);
        return app;
    }

    /// <summary>The one identity a login creates (antiforgery ties its tokens to the NameIdentifier claim).</summary>
    public static ClaimsPrincipal Principal(string scheme) =>
        new(new ClaimsIdentity([new Claim(ClaimTypes.NameIdentifier, "admin"), new Claim(ClaimTypes.Name, "admin")], scheme));
}
