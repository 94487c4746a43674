using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Warren.Configuration;

namespace Warren.Admin;

/// <summary>GET/POST /console/login (the admin token for a session cookie) and POST /console/logout.</summary>
internal static class LoginEndpoints
{
    public const string LoginPath = "/console/login";
    public const string LogoutPath = "/console/logout";

    public static void Map(WebApplication app)
    {
        var options = app.Services.GetRequiredService<AdminOptions>();
        var antiforgery = app.Services.GetRequiredService<IAntiforgery>();
        var limiter = app.Services.GetRequiredService<LoginLimiter>();

        app.MapGet(LoginPath, (HttpContext context) => Html.WriteAsync(context, StatusCodes.Status200OK, LoginPage(context, antiforgery, options, null, context.Request.Query["return"].ToString())));
        app.MapPost(LoginPath, async (HttpContext context) =>
        {
            if (options.Token is not { } token)
            {
                return; // AdminGate answered already: no login without admin_token
            }
            try
            {
                // Login CSRF: a page of another site must not log the operator's browser into its own session.
                await antiforgery.ValidateRequestAsync(context).ConfigureAwait(false);
            }
            catch (AntiforgeryValidationException)
            {
                await Html.WriteAsync(context, StatusCodes.Status400BadRequest, LoginPage(context, antiforgery, options, "The form expired; try again.", null)).ConfigureAwait(false);
                return;
            }
            var address = context.Connection.RemoteIpAddress;
            if (!limiter.MayTry(address))
            {
                context.Response.Headers.RetryAfter = "60";
                await Html.WriteAsync(context, StatusCodes.Status429TooManyRequests, LoginPage(context, antiforgery, options, "Too many failed logins from this address; wait a minute.", null)).ConfigureAwait(false);
                return;
            }
            var form = await context.Request.ReadFormAsync(context.RequestAborted).ConfigureAwait(false);
            var presented = form["token"].ToString();
            if (presented.Length > AdminAccess.MaximumTokenLength || !AdminAccess.IsAuthorized("Bearer " + presented, token))
            {
                limiter.TryFail(address);
                await Html.WriteAsync(context, StatusCodes.Status401Unauthorized, LoginPage(context, antiforgery, options, "That is not the admin token.", form["return"].ToString())).ConfigureAwait(false);
                return;
            }
            await context.SignInAsync(AdminSecurity.CookieScheme, AdminSecurity.Principal(AdminSecurity.CookieScheme)).ConfigureAwait(false);
            context.Response.Redirect(SafeReturn(form["return"].ToString()));
        });
        app.MapPost(LogoutPath, async (HttpContext context) =>
        {
            await context.SignOutAsync(AdminSecurity.CookieScheme).ConfigureAwait(false);
            context.Response.Redirect(LoginPath);
        });
    }

    /// <summary>Only a console path on this listener: never "//host" or an absolute URL (an open redirect).</summary>
    internal static string SafeReturn(string? path) =>
        path is { Length: > 0 and < 2048 } && path.StartsWith("/console", StringComparison.Ordinal) && !path.Contains("//", StringComparison.Ordinal)
            && !path.Contains('\\', StringComparison.Ordinal) && path != LoginPath
            ? path
            : "/console";

    private static string LoginPage(HttpContext context, IAntiforgery antiforgery, AdminOptions options, string? error, string? returnPath)
    {
        var tokens = antiforgery.GetAndStoreTokens(context);
        var returnTo = SafeReturn(returnPath);
        var body = $"""
            <form class="login" method="post" action="{LoginPath}">
              <h1>Warren {Html.Encode(options.Role)}</h1>
              {(error is null ? "" : $"<p class=\"error\" role=\"alert\">{Html.Encode(error)}</p>")}
              <label for="token">Admin token</label>
              <input id="token" name="token" type="password" autocomplete="current-password" required autofocus>
              <input type="hidden" name="{AdminSecurity.CsrfField}" value="{Html.Encode(tokens.RequestToken)}">
              <input type="hidden" name="return" value="{Html.Encode(returnTo)}">
              <button type="submit">Log in</button>
            </form>
            """;
        return Html.Bare("Log in", body);
    }
}
