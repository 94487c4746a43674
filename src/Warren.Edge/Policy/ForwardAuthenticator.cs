using System.Net;
using System.Net.Http;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Primitives;
using Microsoft.Net.Http.Headers;
using Warren.Configuration;

namespace Warren.Edge.Policy;

/// <summary>
/// <c>forward_auth</c>: asks an external service about each request (Authelia, Authentik, oauth2-proxy style) with
/// X-Forwarded-Method/-Proto/-Host/-Uri/-For and the configured request headers. 2xx: the request goes on with the
/// named headers copied from the answer. Anything else goes back to the client as the auth service wrote it (status,
/// Location, WWW-Authenticate, Set-Cookie, Content-Type and up to 64 KiB of body). No answer in time: 503.
/// </summary>
internal sealed class ForwardAuthenticator
{
    private const int MaxBody = 64 * 1024;
    private static readonly string[] ReturnedHeaders = [HeaderNames.Location, HeaderNames.WWWAuthenticate, HeaderNames.SetCookie, HeaderNames.ContentType, HeaderNames.CacheControl];

    private readonly Uri _url;
    private readonly string[] _forward;
    private readonly TimeSpan _timeout;
    private readonly HttpClient _client;

    private ForwardAuthenticator(ForwardAuthConfig config, PolicyServices services)
    {
        _url = new Uri(config.Url);
        CopyHeaders = [.. config.CopyHeaders];
        _forward = [.. config.ForwardHeaders];
        _timeout = config.Timeout;
        _client = services.ForwardAuthClient;
    }

    /// <summary>Headers copied from the auth service's answer onto the forwarded request.</summary>
    public string[] CopyHeaders { get; }

    public static ForwardAuthenticator? Compile(ForwardAuthConfig? config, PolicyServices services) => config is null ? null : new(config, services);

    /// <summary>True when the request may go on (identity headers set); false when the client was answered here.</summary>
    public async Task<bool> AuthorizeAsync(HttpContext context, IPAddress? client)
    {
        var request = context.Request;
        using var check = new HttpRequestMessage(HttpMethod.Get, _url);
        check.Headers.TryAddWithoutValidation("X-Forwarded-Method", request.Method);
        check.Headers.TryAddWithoutValidation("X-Forwarded-Proto", request.Scheme);
        check.Headers.TryAddWithoutValidation("X-Forwarded-Host", request.Host.Value);
        check.Headers.TryAddWithoutValidation("X-Forwarded-Uri", string.Concat(request.PathBase.ToUriComponent(), request.Path.ToUriComponent(), request.QueryString.ToUriComponent()));
        check.Headers.TryAddWithoutValidation("X-Forwarded-For", client?.ToString());
        foreach (var name in _forward)
        {
            if (request.Headers.TryGetValue(name, out var values))
            {
                check.Headers.TryAddWithoutValidation(name, (IEnumerable<string?>)values);
            }
        }
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted);
        timeout.CancelAfter(_timeout);
        HttpResponseMessage answer;
        try
        {
            answer = await _client.SendAsync(check, HttpCompletionOption.ResponseHeadersRead, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is HttpRequestException or OperationCanceledException)
        {
            // Fail closed: without the auth service's word nothing goes through.
            context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
            return false;
        }
        using (answer)
        {
            if (answer.IsSuccessStatusCode)
            {
                foreach (var name in CopyHeaders)
                {
                    if (answer.Headers.TryGetValues(name, out var values))
                    {
                        request.Headers[name] = new StringValues([.. values]);
                    }
                }
                return true;
            }
            var response = context.Response;
            response.StatusCode = (int)answer.StatusCode;
            foreach (var name in ReturnedHeaders)
            {
                if (answer.Headers.TryGetValues(name, out var values) || answer.Content.Headers.TryGetValues(name, out values))
                {
                    response.Headers[name] = new StringValues([.. values]);
                }
            }
            var body = new byte[MaxBody];
            var length = 0;
            try
            {
                await using var stream = await answer.Content.ReadAsStreamAsync(timeout.Token).ConfigureAwait(false);
                int read;
                while (length < MaxBody && (read = await stream.ReadAsync(body.AsMemory(length), timeout.Token).ConfigureAwait(false)) > 0)
                {
                    length += read;
                }
            }
            catch (Exception ex) when (ex is HttpRequestException or OperationCanceledException or IOException)
            {
                length = 0; // the status and headers still say what the auth service decided
            }
            response.ContentLength = length;
            await response.Body.WriteAsync(body.AsMemory(0, length), context.RequestAborted).ConfigureAwait(false);
            return false;
        }
    }
}
