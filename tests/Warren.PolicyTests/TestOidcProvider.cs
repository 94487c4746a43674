using System.Net;
using System.Security.Claims;
using Microsoft.AspNetCore;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using OpenIddict.Abstractions;
using OpenIddict.Server.AspNetCore;
using Warren.Edge;
using static OpenIddict.Abstractions.OpenIddictConstants;

namespace Warren.PolicyTests;

/// <summary>
/// A real OpenID Connect provider on loopback for the OIDC login tests, built on OpenIddict's server (discovery,
/// authorization endpoint, token endpoint with PKCE checks, end-session endpoint, signed ID tokens) with its stores
/// on EF Core's in-memory database. Users sign in at its own login form (<c>/login</c>, a cookie of its own), as a
/// person would; the client registration says which redirect URIs it accepts.
/// </summary>
internal sealed class TestOidcProvider : IAsyncDisposable
{
    public const string LoginScheme = "provider-login";

    private readonly WebApplication _app;
    private int _logins;

    private TestOidcProvider(WebApplication app, int port)
    {
        _app = app;
        Port = port;
    }

    public int Port { get; }

    /// <summary>The issuer, as the provider writes it in its discovery document and tokens.</summary>
    public string Issuer => $"http://127.0.0.1:{Port}/";

    /// <summary>How many times a user signed in at the login form.</summary>
    public int Logins => Volatile.Read(ref _logins);

    public static async Task<TestOidcProvider> StartAsync(params TestUser[] users)
    {
        var builder = WebHosting.CreateBuilder();
        builder.Logging.ClearProviders();
        ListenOptions? listener = null;
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0, l => listener = l));
        var database = "oidc-" + Guid.NewGuid().ToString("N");
        builder.Services.AddDbContext<ProviderDatabase>(o =>
        {
            o.UseInMemoryDatabase(database);
            o.ConfigureWarnings(w => w.Ignore(InMemoryEventId.TransactionIgnoredWarning));
            o.UseOpenIddict();
        });
        builder.Services.AddAuthentication(LoginScheme).AddCookie(LoginScheme, o => o.Cookie.Name = "provider_session");
        builder.Services.AddOpenIddict()
            .AddCore(o => o.UseEntityFrameworkCore().UseDbContext<ProviderDatabase>())
            .AddServer(o =>
            {
                o.SetAuthorizationEndpointUris("connect/authorize")
                    .SetTokenEndpointUris("connect/token")
                    .SetEndSessionEndpointUris("connect/logout");
                o.AllowAuthorizationCodeFlow().RequireProofKeyForCodeExchange();
                o.RegisterScopes(Scopes.OpenId, Scopes.Email, Scopes.Profile, "groups");
                o.AddEphemeralEncryptionKey().AddEphemeralSigningKey();
                o.DisableAccessTokenEncryption();
                o.UseAspNetCore()
                    .EnableAuthorizationEndpointPassthrough()
                    .EnableEndSessionEndpointPassthrough()
                    .DisableTransportSecurityRequirement(); // loopback HTTP in tests
            });
        var app = builder.Build();
        var byName = users.ToDictionary(u => u.Name, StringComparer.Ordinal);
        app.UseAuthentication();
        TestOidcProvider? provider = null;
        app.Map("/connect/authorize", context => AuthorizeAsync(context, byName));
        app.Map("/connect/logout", async context =>
        {
            await context.SignOutAsync(LoginScheme);
            await context.SignOutAsync(OpenIddictServerAspNetCoreDefaults.AuthenticationScheme, new AuthenticationProperties { RedirectUri = "/" });
        });
        app.MapGet("/login", context =>
        {
            context.Response.ContentType = "text/html; charset=utf-8";
            var back = WebUtility.HtmlEncode(context.Request.Query["return"].ToString());
            return context.Response.WriteAsync($"<form method=post><input name=user><input name=password type=password><input type=hidden name=return value=\"{back}\"><button type=submit>Sign in</button></form>");
        });
        app.MapPost("/login", async context =>
        {
            var form = await context.Request.ReadFormAsync();
            var back = form["return"].ToString();
            if (!byName.TryGetValue(form["user"].ToString(), out var user) || user.Password != form["password"].ToString() || !back.StartsWith("/connect/", StringComparison.Ordinal))
            {
                context.Response.StatusCode = StatusCodes.Status401Unauthorized;
                return;
            }
            Interlocked.Increment(ref provider!._logins);
            await context.SignInAsync(LoginScheme, new ClaimsPrincipal(new ClaimsIdentity([new Claim(ClaimTypes.Name, user.Name)], LoginScheme)));
            context.Response.Redirect(back);
        });
        await app.StartAsync();
        provider = new TestOidcProvider(app, listener!.IPEndPoint!.Port);
        return provider;
    }

    /// <summary>Registers a confidential client that must use PKCE, with the redirect URIs it may use.</summary>
    public async Task RegisterClientAsync(string clientId, string secret, IEnumerable<Uri> redirectUris, IEnumerable<Uri> postLogoutRedirectUris)
    {
        await using var scope = _app.Services.CreateAsyncScope();
        var manager = scope.ServiceProvider.GetRequiredService<IOpenIddictApplicationManager>();
        var descriptor = new OpenIddictApplicationDescriptor
        {
            ClientId = clientId,
            ClientSecret = secret,
            ClientType = ClientTypes.Confidential,
            ConsentType = ConsentTypes.Implicit,
            Permissions =
            {
                Permissions.Endpoints.Authorization, Permissions.Endpoints.Token, Permissions.Endpoints.EndSession,
                Permissions.GrantTypes.AuthorizationCode, Permissions.ResponseTypes.Code,
                Permissions.Scopes.Email, Permissions.Scopes.Profile, Permissions.Prefixes.Scope + "groups",
            },
            Requirements = { Requirements.Features.ProofKeyForCodeExchange },
        };
        foreach (var uri in redirectUris)
        {
            descriptor.RedirectUris.Add(uri);
        }
        foreach (var uri in postLogoutRedirectUris)
        {
            descriptor.PostLogoutRedirectUris.Add(uri);
        }
        await manager.CreateAsync(descriptor);
    }

    /// <summary>The authorization endpoint (after OpenIddict validated the request): the login form first, then a code for the user.</summary>
    private static async Task AuthorizeAsync(HttpContext context, Dictionary<string, TestUser> users)
    {
        var request = context.GetOpenIddictServerRequest() ?? throw new InvalidOperationException("not an OpenID Connect request");
        var login = await context.AuthenticateAsync(LoginScheme);
        if (!login.Succeeded || login.Principal.Identity?.Name is not { } name || !users.TryGetValue(name, out var user))
        {
            context.Response.Redirect("/login?return=" + Uri.EscapeDataString(context.Request.Path + context.Request.QueryString));
            return;
        }
        var identity = new ClaimsIdentity(OpenIddictServerAspNetCoreDefaults.AuthenticationScheme, Claims.Name, Claims.Role);
        identity.AddClaim(new Claim(Claims.Subject, user.Subject));
        identity.AddClaim(new Claim(Claims.Name, user.Name));
        identity.AddClaim(new Claim(Claims.Email, user.Email));
        identity.AddClaim(new Claim(Claims.EmailVerified, user.EmailVerified ? "true" : "false", ClaimValueTypes.Boolean));
        foreach (var group in user.Groups)
        {
            identity.AddClaim(new Claim("groups", group));
        }
        identity.SetScopes(request.GetScopes());
        identity.SetDestinations(static _ => [Destinations.AccessToken, Destinations.IdentityToken]);
        await context.SignInAsync(OpenIddictServerAspNetCoreDefaults.AuthenticationScheme, new ClaimsPrincipal(identity));
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    private sealed class ProviderDatabase(DbContextOptions<ProviderDatabase> options) : DbContext(options);
}

/// <summary>A user of <see cref="TestOidcProvider"/>.</summary>
internal sealed record TestUser(string Name, string Password, string Subject, string Email, bool EmailVerified, IReadOnlyList<string> Groups);
