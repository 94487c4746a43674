using System.Net;
using System.Net.Http;

namespace Warren.PolicyTests;

/// <summary>
/// What a browser does in an OpenID Connect login, with HttpClient: a cookie jar per site, redirects followed one by
/// one (so a test sees each hop), forms posted. Names under .test go to the edge's HTTP port on loopback (the
/// edge routes by Host), so cookies are kept per hostname as a browser keeps them.
/// </summary>
internal sealed class OidcBrowser : IDisposable
{
    private readonly HttpClient _client;

    public OidcBrowser(WarrenHarness harness)
        : this(() => harness.HttpPort)
    {
    }

    /// <summary>A browser whose .test names go to the edge's HTTP port <paramref name="httpPort"/> gives (an edge process).</summary>
    public OidcBrowser(Func<int> httpPort)
    {
        Cookies = new CookieContainer();
        _client = new HttpClient(new SocketsHttpHandler
        {
            AllowAutoRedirect = false,
            UseCookies = true,
            CookieContainer = Cookies,
            UseProxy = false,
            ConnectCallback = (context, cancellationToken) => TestClients.ConnectAsync(
                new IPEndPoint(IPAddress.Loopback, context.DnsEndPoint.Host.EndsWith(".test", StringComparison.Ordinal) ? httpPort() : context.DnsEndPoint.Port),
                receiveBufferSize: null, cancellationToken),
        })
        {
            Timeout = TimeSpan.FromSeconds(60),
        };
    }

    public CookieContainer Cookies { get; }

    /// <summary>Every URL requested, in order.</summary>
    public List<Uri> Visited { get; } = [];

    public async Task<HttpResponseMessage> GetAsync(Uri url, Action<HttpRequestMessage>? configure = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, url);
        configure?.Invoke(request);
        Visited.Add(url);
        return await _client.SendAsync(request);
    }

    /// <summary>Follows redirects from <paramref name="response"/> (disposing each hop) until an answer that is not one.</summary>
    public async Task<HttpResponseMessage> FollowAsync(HttpResponseMessage response, Action<HttpRequestMessage>? configure = null)
    {
        for (var hops = 0; IsRedirect(response.StatusCode); hops++)
        {
            if (hops == 20)
            {
                throw new InvalidOperationException("more than 20 redirects: " + string.Join(" -> ", Visited));
            }
            var next = new Uri(response.RequestMessage!.RequestUri!, response.Headers.Location!);
            response.Dispose();
            response = await GetAsync(next, configure);
        }
        return response;
    }

    /// <summary>Fills and posts the provider's login form (<paramref name="form"/> is the form page), then follows the redirects.</summary>
    public async Task<HttpResponseMessage> SignInAsync(HttpResponseMessage form, string user, string password, Action<HttpRequestMessage>? configure = null)
    {
        var url = form.RequestMessage!.RequestUri!;
        var back = System.Web.HttpUtility.ParseQueryString(url.Query)["return"] ?? throw new InvalidOperationException($"{url} is not the login form");
        form.Dispose();
        using var post = new HttpRequestMessage(HttpMethod.Post, new Uri(url, "/login"))
        {
            Content = new FormUrlEncodedContent(new Dictionary<string, string> { ["user"] = user, ["password"] = password, ["return"] = back }),
        };
        Visited.Add(post.RequestUri!);
        return await FollowAsync(await _client.SendAsync(post), configure);
    }

    private static bool IsRedirect(HttpStatusCode status) => (int)status is 301 or 302 or 303 or 307 or 308;

    public void Dispose() => _client.Dispose();
}
