using System.Globalization;
using System.Net;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;
using Microsoft.Net.Http.Headers;
using Warren.Edge.Forwarding;
using Warren.Edge.Routing;
using Warren.Edge.Shield;
using Warren.Edge.Telemetry;

namespace Warren.Edge.Policy;

/// <summary>
/// The public request path's policy step, before forwarding (docs/policy.md). While no routed service has a policy it
/// is one volatile read; otherwise it resolves the route once (<see cref="EdgeRequest.Resolve"/>), and a service without a
/// policy goes straight on. For a service with one, every layer must pass, in this order: IP lists (403), HTTPS
/// redirect (308), maintenance (503), CORS preflight (204), rate limits (429 + Retry-After), authentication (401 +
/// WWW-Authenticate). Then the body-size limit, the request rewrites (TunnelTransformer), the timeout (504) and the
/// error pages apply to the forwarded request.
/// </summary>
internal sealed partial class PolicyMiddleware(
    RouteTable routes, TrustedProxies trusted, PolicyRateLimiter limiter, PolicyMetrics? metrics, TimeProvider time, ILogger<PolicyMiddleware> logger,
    AbuseShield? shield = null)
{
    private static readonly EdgeAnswer DeniedAnswer = new(ErrorKind.PolicyDenied);

    public RequestDelegate Wrap(RequestDelegate next) => context => routes.HasPolicies ? Invoke(context, next) : next(context);

    /// <summary>The request's host as routed (Invoke admitted only requests whose Host is one).</summary>
    private static string RouteKey(HttpRequest request) =>
        Configuration.HostNames.TryGetRequestKey(request.Headers.Host.ToString(), out var host) ? host : "";

    /// <summary>
    /// Not an async method: a request that passes synchronous checks (IP lists, rate limits, API keys) goes on with
    /// <c>next</c>'s own task, so the policy step adds no state machine to every request of a protected service.
    /// </summary>
    private Task Invoke(HttpContext context, RequestDelegate next)
    {
        var request = context.Request;
        // The route key the forwarding middleware uses (HostNames: the Host header as sent, never IDNA-decoded), so the
        // policy found is always that of the service the request reaches. A Host that is no hostname gets its 400 there.
        if (!Configuration.HostNames.TryGetRequestKey(request.Headers.Host.ToString(), out var host))
        {
            return next(context);
        }
        var service = string.IsNullOrEmpty(host) ? null : routes.MatchHttp(host, request.Path.Value ?? "/");
        var state = EdgeRequest.Of(context);
        state.Resolve(service);
        if (service?.Policy is not { } policy)
        {
            return next(context);
        }
        var client = ClientAddress.Of(context, trusted);
        if (!Admit(context, service, policy, client, out var answer))
        {
            return answer is null ? Task.CompletedTask : context.Response.Body.WriteAsync(answer, context.RequestAborted).AsTask();
        }
        if (policy.Authenticates)
        {
            var authenticated = AuthenticateAsync(context, service, policy, client);
            if (!authenticated.IsCompletedSuccessfully)
            {
                return ForwardWhenAuthenticatedAsync(authenticated, context, next, state, policy);
            }
            if (!authenticated.Result)
            {
                return Task.CompletedTask;
            }
        }
        return Forward(context, next, state, policy);
    }

    private async Task ForwardWhenAuthenticatedAsync(Task<bool> authenticated, HttpContext context, RequestDelegate next, EdgeRequest state, ServicePolicy policy)
    {
        if (await authenticated.ConfigureAwait(false))
        {
            await Forward(context, next, state, policy).ConfigureAwait(false);
        }
    }

    /// <summary>The request passed: its policy's body limit, rewrites, timeout and error pages apply to the forwarding.</summary>
    private Task Forward(HttpContext context, RequestDelegate next, EdgeRequest state, ServicePolicy policy)
    {
        if (policy.MaxRequestBodySize is { } maxBody && context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } bodyLimit
            && (bodyLimit.MaxRequestBodySize is null || maxBody < bodyLimit.MaxRequestBodySize))
        {
            bodyLimit.MaxRequestBodySize = maxBody; // lower only: the edge's own limit holds
        }
        state.Policy = policy; // TunnelTransformer applies the rewrites from it
        return policy.Timeout is null && policy.ErrorPages is null ? next(context) : ForwardWithTimeoutAndPagesAsync(context, next, policy);
    }

    private async Task ForwardWithTimeoutAndPagesAsync(HttpContext context, RequestDelegate next, ServicePolicy policy)
    {
        if (policy.Timeout is { } timeout)
        {
            await ForwardWithTimeoutAsync(context, next, timeout).ConfigureAwait(false);
        }
        else
        {
            await next(context).ConfigureAwait(false);
        }
        if (policy.ErrorPages is { } pages && !context.Response.HasStarted && pages.TryGetValue(context.Response.StatusCode, out var page))
        {
            // Only answers the edge made itself (no agent, dial failed, timeout): a backend's own 502 has started already.
            context.Response.ContentType = "text/html; charset=utf-8";
            await context.Response.Body.WriteAsync(page, context.RequestAborted).ConfigureAwait(false);
        }
    }

    /// <summary>Runs every layer's checks; false when the request was answered here (with <paramref name="body"/> to write, if any).</summary>
    private bool Admit(HttpContext context, ServiceEntry service, ServicePolicy policy, IPAddress? client, out byte[]? body)
    {
        body = null;
        var request = context.Request;
        var layers = policy.Layers;
        foreach (var layer in layers)
        {
            if (layer.Ip is { } ip && !ip.Allows(client))
            {
                Deny(context, service, policy, layer, PolicyDenial.IpDenied, StatusCodes.Status403Forbidden, client);
                return false;
            }
        }
        foreach (var layer in layers)
        {
            if (layer.HttpsRedirect && !request.IsHttps)
            {
                RequestTelemetry.Routed(context, service);
                context.Response.StatusCode = StatusCodes.Status308PermanentRedirect;
                context.Response.Headers.Location = string.Concat("https://", RouteKey(request), request.PathBase.ToUriComponent(), request.Path.ToUriComponent(), request.QueryString.ToUriComponent());
                return false;
            }
        }
        foreach (var layer in layers)
        {
            if (layer.Maintenance is { } page)
            {
                Deny(context, service, policy, layer, PolicyDenial.Maintenance, StatusCodes.Status503ServiceUnavailable, client);
                context.Response.Headers.RetryAfter = "300";
                context.Response.ContentType = "text/html; charset=utf-8";
                context.Response.ContentLength = page.Length;
                body = page;
                return false;
            }
        }
        if (policy.Cors is { } cors && CorsRules.IsPreflight(request) && cors.AllowedOrigin(request) is { } origin)
        {
            // Browsers send preflights without credentials, so they are answered before authentication.
            RequestTelemetry.Routed(context, service);
            cors.WritePreflight(context.Response, origin);
            return false;
        }
        foreach (var layer in layers)
        {
            if (!Acquire(layer.PerIp, service, client ?? IPAddress.None, out var retryAfter) || !Acquire(layer.PerService, service, null, out retryAfter))
            {
                Deny(context, service, policy, layer, PolicyDenial.RateLimited, StatusCodes.Status429TooManyRequests, client);
                context.Response.Headers.RetryAfter = Math.Max(1, (long)Math.Ceiling(retryAfter.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
                return false;
            }
        }
        return true;
    }

    /// <summary>
    /// Every authenticating layer must accept the request; within a layer any one method does (API key, basic, JWT,
    /// an OpenID Connect session, then forward auth). Identity headers are stripped from the client's request first, so
    /// only values a layer set reach the service; an OIDC layer answers its own callback and logout paths, and its
    /// cookies are removed before the request goes on. False when the client was answered here (401, 403, a 302 to the
    /// provider's login, or the forward-auth service's answer).
    /// </summary>
    private async Task<bool> AuthenticateAsync(HttpContext context, ServiceEntry service, ServicePolicy policy, IPAddress? client)
    {
        var request = context.Request;
        foreach (var name in policy.IdentityHeaders)
        {
            request.Headers.Remove(name);
        }
        foreach (var layer in policy.Layers)
        {
            if (layer.Oidc is { } login && await login.HandleOwnPathsAsync(context).ConfigureAwait(false))
            {
                RequestTelemetry.Routed(context, service); // the callback or logout, answered by the edge
                return false;
            }
            if (!layer.Authenticates || (layer.ApiKeys?.Authenticate(request) ?? false))
            {
                continue;
            }
            if (layer.Basic is { } basicAuth)
            {
                var verdict = await basicAuth.AuthenticateAsync(request.Headers.Authorization, context.RequestAborted).ConfigureAwait(false);
                if (verdict == BasicVerdict.Accepted)
                {
                    continue;
                }
                if (verdict == BasicVerdict.Busy)
                {
                    // A flood of guesses fills the verification queue: refuse without verifying rather than queue without end.
                    Deny(context, service, policy, layer, PolicyDenial.Unauthenticated, StatusCodes.Status503ServiceUnavailable, client);
                    context.Response.Headers.RetryAfter = "1";
                    return false;
                }
            }
            if (layer.Jwt is { } jwt)
            {
                var (principal, forbidden) = await jwt.AuthenticateAsync(context).ConfigureAwait(false);
                if (principal is not null)
                {
                    foreach (var (header, claim) in jwt.IdentityHeaders)
                    {
                        if (principal.FindFirst(claim)?.Value is { } value)
                        {
                            request.Headers[header] = value;
                        }
                    }
                    continue;
                }
                if (forbidden)
                {
                    Deny(context, service, policy, layer, PolicyDenial.Unauthenticated, StatusCodes.Status403Forbidden, client);
                    return false;
                }
            }
            if (layer.Oidc is { } oidc)
            {
                var (user, notAllowed) = await oidc.AuthenticateAsync(context).ConfigureAwait(false);
                if (user is not null)
                {
                    foreach (var (header, claim) in oidc.IdentityHeaders)
                    {
                        if (OidcAuthenticator.ClaimValue(user, claim) is { } value)
                        {
                            request.Headers[header] = value;
                        }
                    }
                    continue;
                }
                if (notAllowed)
                {
                    // Signed in, but no allow-list names this user: a new login would not change that.
                    Deny(context, service, policy, layer, PolicyDenial.Unauthenticated, StatusCodes.Status403Forbidden, client);
                    context.Response.ContentType = "text/plain; charset=utf-8";
                    await context.Response.WriteAsync("You are signed in, but this account may not use this service.\n", context.RequestAborted).ConfigureAwait(false);
                    return false;
                }
                await oidc.ChallengeAsync(context).ConfigureAwait(false); // 302 to the provider's login
                Refused(context, service, layer, client);
                return false;
            }
            if (layer.ForwardAuth is { } forward)
            {
                if (await forward.AuthorizeAsync(context, client).ConfigureAwait(false))
                {
                    continue;
                }
                Refused(context, service, layer, client);
                return false;
            }
            Deny(context, service, policy, layer, PolicyDenial.Unauthenticated, StatusCodes.Status401Unauthorized, client);
            var challenges = context.Response.Headers;
            if (layer.Basic is { } basic)
            {
                challenges.Append(HeaderNames.WWWAuthenticate, basic.Challenge);
            }
            if (layer.ApiKeys is not null || layer.Jwt is not null)
            {
                challenges.Append(HeaderNames.WWWAuthenticate, request.Headers.Authorization.Count > 0 && layer.Jwt is not null ? "Bearer error=\"invalid_token\"" : "Bearer");
            }
            return false;
        }
        if (policy.LogsIn)
        {
            OidcAuthenticator.StripCookies(request);
        }
        return true;
    }

    /// <summary>The forward-auth service or the OIDC login answered the client itself: counted and logged as a refusal, its answer left as it is.</summary>
    private void Refused(HttpContext context, ServiceEntry service, PolicyLayer layer, IPAddress? client)
    {
        RequestTelemetry.Routed(context, service);
        RequestTelemetry.Answered(context, DeniedAnswer);
        metrics?.Denied(service, PolicyDenial.Unauthenticated);
        Log.Denied(logger, service.Name, layer.Name, PolicyDenial.Unauthenticated, context.Response.StatusCode, client?.ToString());
        Strike(PolicyDenial.Unauthenticated, context.Response.StatusCode, client); // a 302 to a login is no failure
    }

    /// <summary>A failed authentication (401, 403) or a rate limit counts toward a ban (docs/policy.md, "Abuse shield").</summary>
    private void Strike(PolicyDenial reason, int status, IPAddress? client)
    {
        if (shield is null)
        {
            return;
        }
        if (reason == PolicyDenial.RateLimited)
        {
            shield.Strike(client, StrikeKind.LimitHit);
        }
        else if (reason == PolicyDenial.Unauthenticated && status is StatusCodes.Status401Unauthorized or StatusCodes.Status403Forbidden)
        {
            shield.Strike(client, StrikeKind.AuthFailure);
        }
    }

    private bool Acquire(RateRule? rule, ServiceEntry service, IPAddress? client, out TimeSpan retryAfter)
    {
        retryAfter = default;
        return rule is null || limiter.TryAcquire(rule, service.Id, client, out retryAfter);
    }

    private void Deny(HttpContext context, ServiceEntry service, ServicePolicy policy, PolicyLayer layer, PolicyDenial reason, int status, IPAddress? client)
    {
        RequestTelemetry.Routed(context, service);
        RequestTelemetry.Answered(context, DeniedAnswer);
        metrics?.Denied(service, reason);
        Log.Denied(logger, service.Name, layer.Name, reason, status, client?.ToString());
        Strike(reason, status, client);
        context.Response.StatusCode = status;
        if (policy.Cors?.AllowedOrigin(context.Request) is { } origin)
        {
            policy.Cors.AddHeaders(context.Response.Headers, origin);
        }
    }

    /// <summary>
    /// policy <c>timeout</c>: the request is cancelled if no response has started in time, and the client gets 504.
    /// Once the response starts the timer is disarmed, so a long download or a WebSocket is not cut by it.
    /// </summary>
    private async Task ForwardWithTimeoutAsync(HttpContext context, RequestDelegate next, TimeSpan timeout)
    {
        var aborted = context.RequestAborted;
        using var timer = new CancellationTokenSource(timeout, time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(aborted, timer.Token);
        context.Response.OnStarting(static state =>
        {
            try
            {
                ((CancellationTokenSource)state).CancelAfter(Timeout.InfiniteTimeSpan);
            }
            catch (ObjectDisposedException)
            {
                // the 504 below starts after the request's timer is gone
            }
            return Task.CompletedTask;
        }, timer);
        context.RequestAborted = linked.Token;
        try
        {
            await next(context).ConfigureAwait(false);
        }
        finally
        {
            context.RequestAborted = aborted;
        }
        if (timer.IsCancellationRequested && !aborted.IsCancellationRequested && !context.Response.HasStarted)
        {
            context.Response.StatusCode = StatusCodes.Status504GatewayTimeout;
        }
    }

    private static partial class Log
    {
        [LoggerMessage(700, LogLevel.Debug, "Service {Service}: {Layer} refused a request from {Client} ({Reason}) -> {Status}", EventName = "PolicyDenied")]
        public static partial void Denied(ILogger logger, string service, string layer, PolicyDenial reason, int status, string? client);
    }
}
