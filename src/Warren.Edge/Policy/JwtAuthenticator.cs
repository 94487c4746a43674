using System.Security.Claims;
using System.Text.Json;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.AspNetCore.Http;
using Microsoft.IdentityModel.Protocols;
using Microsoft.IdentityModel.Protocols.OpenIdConnect;
using Microsoft.IdentityModel.Tokens;
using Warren.Configuration;

namespace Warren.Edge.Policy;

/// <summary>
/// <c>jwt</c>: bearer tokens validated by ASP.NET Core's JwtBearer handler against the issuer's signing keys (from
/// discovery or a JWKS URL, cached and refreshed by its configuration manager): signature, issuer, audience and
/// lifetime; then the required claims. Each distinct configuration gets one authentication scheme, shared by every
/// policy that has it, so re-registrations do not add schemes without end; a scheme no policy holds any more is
/// removed by <see cref="SchemeSweeper"/>.
/// </summary>
internal sealed class JwtAuthenticator
{
    private static int _nextScheme;

    private readonly string _scheme;
    private readonly (string Claim, string Value)[] _required;

    private JwtAuthenticator(JwtConfig config, PolicyServices services)
    {
        _required = [.. config.RequiredClaims.Select(p => (p.Key, p.Value))];
        IdentityHeaders = [.. config.IdentityHeaders.Select(p => (p.Key, p.Value))];
        var key = SchemeKey.Of(config.Issuer, config.Audiences, config.MetadataUrl, config.JwksUrl);
        _scheme = services.AcquireScheme(services.JwtSchemes, key, static (_, state) =>
        {
            var (config, services) = state;
            var scheme = $"warren-jwt-{Interlocked.Increment(ref _nextScheme)}";
            services.JwtOptions.TryAdd(scheme, CreateOptions(scheme, config, services.Time));
            services.Schemes.TryAddScheme(new AuthenticationScheme(scheme, null, typeof(JwtBearerHandler)));
            return scheme;
        }, (config, services), static scheme => scheme);
    }

    /// <summary>The authentication scheme this layer runs on (SchemeSweeper keeps it while a policy holds it).</summary>
    public string Scheme => _scheme;

    /// <summary>Header name to claim type, set on the forwarded request from the token.</summary>
    public (string Header, string Claim)[] IdentityHeaders { get; }

    public static JwtAuthenticator? Compile(JwtConfig? config, PolicyServices services) => config is null ? null : new(config, services);

    /// <summary>The token's principal when it is valid and holds the required claims; Forbidden when only the claims are missing.</summary>
    public async Task<(ClaimsPrincipal? Principal, bool Forbidden)> AuthenticateAsync(HttpContext context)
    {
        var result = await context.AuthenticateAsync(_scheme).ConfigureAwait(false);
        if (!result.Succeeded || result.Principal is not { } principal)
        {
            return (null, false);
        }
        foreach (var (claim, value) in _required)
        {
            // A space-separated claim (scope) holds the value when one of its words is it.
            if (!principal.Claims.Any(c => c.Type == claim && (c.Value == value || c.Value.Split(' ').Contains(value))))
            {
                return (null, true);
            }
        }
        return (principal, false);
    }

    private static JwtBearerOptions CreateOptions(string scheme, JwtConfig config, TimeProvider time)
    {
        var metadata = config.MetadataUrl ?? config.Issuer.TrimEnd('/') + "/.well-known/openid-configuration";
        var requireHttps = !new Uri(config.JwksUrl ?? metadata).IsLoopback;
        var options = new JwtBearerOptions
        {
            MetadataAddress = metadata,
            RequireHttpsMetadata = requireHttps,
            MapInboundClaims = false,
            TimeProvider = time,
            TokenValidationParameters = new TokenValidationParameters
            {
                ValidIssuer = config.Issuer,
                ValidAudiences = config.Audiences,
                ValidateLifetime = true,
                ClockSkew = TimeSpan.FromMinutes(1),
            },
        };
        if (config.JwksUrl is { } jwks)
        {
            options.ConfigurationManager = new ConfigurationManager<OpenIdConnectConfiguration>(jwks, new JwksRetriever(), new HttpDocumentRetriever { RequireHttps = requireHttps });
        }
        // The handler's own post-configuration (backchannel client, discovery configuration manager), as AddJwtBearer would run it.
        new JwtBearerPostConfigureOptions().PostConfigure(scheme, options);
        return options;
    }

    /// <summary>jwks_url: the keys document alone, read into the configuration the handler validates with.</summary>
    private sealed class JwksRetriever : IConfigurationRetriever<OpenIdConnectConfiguration>
    {
        public async Task<OpenIdConnectConfiguration> GetConfigurationAsync(string address, IDocumentRetriever retriever, CancellationToken cancel)
        {
            var document = await retriever.GetDocumentAsync(address, cancel).ConfigureAwait(false);
            var configuration = new OpenIdConnectConfiguration();
            foreach (var key in new JsonWebKeySet(document).GetSigningKeys())
            {
                configuration.SigningKeys.Add(key);
            }
            return configuration;
        }
    }
}
