using Microsoft.AspNetCore.Http;
using Warren.Net.Collections;

namespace Warren.Edge.Acme;

/// <summary>
/// HTTP-01 (RFC 8555 §8.3): the key authorization at http://DOMAIN/.well-known/acme-challenge/TOKEN. The middleware
/// runs on the public listeners before routing and answers only tokens of orders in progress; any other path, and
/// an unknown token, goes on to the routed service (which may run its own ACME client).
/// </summary>
internal sealed class Http01Responder : IChallengeSolver
{
    public const string PathPrefix = "/.well-known/acme-challenge/";

    // Asked on every request to the HTTP listener, and almost always empty.
    private readonly RarelyWrittenDictionary<string, string> _byToken = new(StringComparer.Ordinal);

    public string Type => "http-01";

    public bool CanSolve(string domain, bool wildcard) => !wildcard;

    public Task PresentAsync(string domain, string token, string keyAuthorization, CancellationToken cancellationToken)
    {
        _byToken.Set(token, keyAuthorization);
        return Task.CompletedTask;
    }

    public Task CleanupAsync(string domain, string token, string keyAuthorization, CancellationToken cancellationToken)
    {
        _byToken.Remove(token);
        return Task.CompletedTask;
    }

    public Task InvokeAsync(HttpContext context, RequestDelegate next)
    {
        // Fast path: nothing pending (almost always), or another path.
        if (_byToken.IsEmpty || context.Request.Path.Value is not { } path || !path.StartsWith(PathPrefix, StringComparison.Ordinal)
            || !_byToken.TryGetValue(path[PathPrefix.Length..], out var keyAuthorization)
            || !(HttpMethods.IsGet(context.Request.Method) || HttpMethods.IsHead(context.Request.Method)))
        {
            return next(context);
        }
        context.Response.StatusCode = StatusCodes.Status200OK;
        context.Response.ContentType = "application/octet-stream";
        return HttpMethods.IsHead(context.Request.Method) ? Task.CompletedTask : context.Response.WriteAsync(keyAuthorization, context.RequestAborted);
    }
}
