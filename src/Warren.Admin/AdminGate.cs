using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Http;
using Warren.Configuration;

namespace Warren.Admin;

/// <summary>
/// The first step of every request on an admin listener (docs/console.md, "Logging in"; docs/security.md, "The admin
/// listener"). Open without a login: the probes, the console's static assets and its login form. With an admin
/// token set, everything else needs the token as a bearer or the session cookie; a cookie-authenticated request that
/// is not GET/HEAD needs the antiforgery token too. Without an admin token, /metrics and /api/* stay open to scripts
/// (a loopback listener's long-standing behaviour; POST /api/reload for warren reload), the console is refused, and so
/// is any other method than GET/HEAD when a browser page sends it (Origin or Sec-Fetch-Site).
/// </summary>
internal sealed class AdminGate(AdminOptions options, IAntiforgery antiforgery)
{
    /// <summary>Framing is refused twice over (CSP for today's browsers, X-Frame-Options for older ones); scripts only from here.</summary>
    public const string ContentSecurityPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

    public async Task InvokeAsync(HttpContext context, RequestDelegate next)
    {
        var headers = context.Response.Headers;
        headers.ContentSecurityPolicy = ContentSecurityPolicy;
        headers.XFrameOptions = "DENY";
        headers.XContentTypeOptions = "nosniff";
        headers["Referrer-Policy"] = "no-referrer";
        headers.CacheControl = "no-store";

        var path = context.Request.Path.Value ?? "/";
        // The login form is open only when there is a token to log in with; without one it is "console disabled" below.
        if (AdminAccess.IsProbe(path) || path.StartsWith(ConsoleAssets.Prefix, StringComparison.Ordinal) || (options.Token is not null && path == LoginEndpoints.LoginPath))
        {
            await next(context).ConfigureAwait(false);
            return;
        }
        var safe = HttpMethods.IsGet(context.Request.Method) || HttpMethods.IsHead(context.Request.Method);
        if (options.Token is null)
        {
            if (IsConsole(path))
            {
                await Html.WriteAsync(context, StatusCodes.Status403Forbidden, Html.Bare("Console disabled",
                    "<p>The console needs a login, and a login needs <code>admin_token</code> in the configuration (or <code>WARREN_ADMIN_TOKEN</code>). Set one and restart.</p>")).ConfigureAwait(false);
                return;
            }
            if (!safe && IsFromABrowserPage(context.Request))
            {
                // A loopback listener without a secret: a script on the host may still POST (warren reload does), but
                // a page of any site could make the operator's browser do it too, so what a browser sends is refused.
                context.Response.StatusCode = StatusCodes.Status403Forbidden;
                await context.Response.WriteAsync("changes from a web page over the admin listener need admin_token to be set\n").ConfigureAwait(false);
                return;
            }
            await next(context).ConfigureAwait(false);
            return;
        }

        var byBearer = context.Request.Headers.Authorization.Count > 0;
        var result = await context.AuthenticateAsync(byBearer ? AdminSecurity.BearerScheme : AdminSecurity.CookieScheme).ConfigureAwait(false);
        if (!result.Succeeded)
        {
            if (!byBearer && safe && IsConsolePage(path))
            {
                context.Response.Redirect(LoginEndpoints.LoginPath + "?return=" + Uri.EscapeDataString(path + context.Request.QueryString));
                return;
            }
            context.Response.StatusCode = StatusCodes.Status401Unauthorized;
            headers.WWWAuthenticate = "Bearer";
            return;
        }
        context.User = result.Principal!;
        if (!byBearer && !safe && !await IsValidCsrfAsync(context).ConfigureAwait(false))
        {
            // A bearer token cannot be sent by a page of another site; a cookie can, so it must come with proof.
            context.Response.StatusCode = StatusCodes.Status400BadRequest;
            await context.Response.WriteAsync("missing or invalid CSRF token: reload the console page and try again\n").ConfigureAwait(false);
            return;
        }
        await next(context).ConfigureAwait(false);
    }

    private async Task<bool> IsValidCsrfAsync(HttpContext context)
    {
        try
        {
            await antiforgery.ValidateRequestAsync(context).ConfigureAwait(false);
            return true;
        }
        catch (AntiforgeryValidationException)
        {
            return false;
        }
    }

    /// <summary>Browsers send Origin with every POST, PUT and DELETE, and Sec-Fetch-Site with every request; scripts send neither.</summary>
    private static bool IsFromABrowserPage(HttpRequest request) =>
        request.Headers.Origin.Count > 0 || (request.Headers["Sec-Fetch-Site"] is { Count: > 0 } site && site.ToString() != "none");

    public static bool IsConsole(string path) => path == "/console" || path.StartsWith("/console/", StringComparison.Ordinal) || path == "/";

    /// <summary>Pages a browser navigates to (redirected to the login form); the console's data and event URLs answer 401.</summary>
    private static bool IsConsolePage(string path) =>
        IsConsole(path) && !path.StartsWith("/console/api/", StringComparison.Ordinal) && !path.StartsWith("/console/events", StringComparison.Ordinal);
}
