using System.Globalization;
using Microsoft.AspNetCore.Http;
using Microsoft.Net.Http.Headers;
using Warren.Configuration;

namespace Warren.Edge.Policy;

/// <summary><c>cors</c>: preflights answered by the edge, Access-Control-* added to responses for allowed origins.</summary>
internal sealed class CorsRules
{
    private readonly HashSet<string> _origins;
    private readonly bool _any;
    private readonly bool _credentials;
    private readonly string _methods;
    private readonly string? _headers;
    private readonly string? _expose;
    private readonly string _maxAge;

    private CorsRules(CorsConfig config)
    {
        _any = config.Origins.Contains("*");
        _origins = new HashSet<string>(config.Origins, StringComparer.OrdinalIgnoreCase);
        _credentials = config.Credentials;
        _methods = string.Join(", ", config.Methods);
        _headers = config.Headers.Count == 0 ? null : string.Join(", ", config.Headers);
        _expose = config.ExposeHeaders.Count == 0 ? null : string.Join(", ", config.ExposeHeaders);
        _maxAge = ((long)config.MaxAge.TotalSeconds).ToString(CultureInfo.InvariantCulture);
    }

    public static CorsRules? Compile(CorsConfig? config) => config is null ? null : new(config);

    public static bool IsPreflight(HttpRequest request) =>
        HttpMethods.IsOptions(request.Method) && request.Headers.ContainsKey(HeaderNames.Origin) && request.Headers.ContainsKey(HeaderNames.AccessControlRequestMethod);

    /// <summary>The value for Access-Control-Allow-Origin, or null when the request's origin is not allowed (or absent).</summary>
    public string? AllowedOrigin(HttpRequest request)
    {
        if (request.Headers.Origin is not { Count: 1 } origin || origin[0] is not { } value)
        {
            return null;
        }
        return _origins.Contains(value) ? value : _any ? "*" : null;
    }

    public void WritePreflight(HttpResponse response, string origin)
    {
        response.StatusCode = StatusCodes.Status204NoContent;
        AddHeaders(response.Headers, origin);
        response.Headers.AccessControlAllowMethods = _methods;
        if (_headers is not null)
        {
            response.Headers.AccessControlAllowHeaders = _headers;
        }
        response.Headers.AccessControlMaxAge = _maxAge;
    }

    public void AddHeaders(IHeaderDictionary headers, string origin)
    {
        headers.AccessControlAllowOrigin = origin;
        if (origin != "*")
        {
            headers.Vary = HeaderNames.Origin;
        }
        if (_credentials)
        {
            headers.AccessControlAllowCredentials = "true";
        }
        if (_expose is not null)
        {
            headers.AccessControlExposeHeaders = _expose;
        }
    }
}
