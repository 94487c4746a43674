using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Warren.Configuration;

namespace Warren.Admin;

/// <summary><c>Authorization: Bearer ADMIN_TOKEN</c>, compared in constant time (<see cref="AdminAccess.IsAuthorized"/>).</summary>
internal sealed class AdminBearerHandler(IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder, AdminOptions admin)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    protected override Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        var header = Request.Headers.Authorization.ToString();
        if (string.IsNullOrEmpty(header))
        {
            return Task.FromResult(AuthenticateResult.NoResult());
        }
        if (admin.Token is not { } token || !AdminAccess.IsAuthorized(header, token))
        {
            return Task.FromResult(AuthenticateResult.Fail("not the admin token"));
        }
        return Task.FromResult(AuthenticateResult.Success(new AuthenticationTicket(AdminSecurity.Principal(Scheme.Name), Scheme.Name)));
    }

    protected override Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        Response.StatusCode = 401;
        Response.Headers.WWWAuthenticate = "Bearer";
        return Task.CompletedTask;
    }
}
