using System.Net;
using System.Net.Http;
using System.Net.Http.Headers;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Warren.ConsoleTests;

/// <summary>
/// A browser's view of the console without the browser: a cookie jar, no redirects followed, and the antiforgery
/// token read from the pages as a browser's form would send it.
/// </summary>
internal sealed partial class ConsoleClient : IDisposable
{
    private ConsoleClient(int port)
    {
        Cookies = new CookieContainer();
        Http = new HttpClient(new SocketsHttpHandler { UseProxy = false, AllowAutoRedirect = false, CookieContainer = Cookies, UseCookies = true })
        {
            BaseAddress = new Uri($"http://127.0.0.1:{port}"),
            Timeout = TimeSpan.FromSeconds(60),
        };
    }

    public HttpClient Http { get; }

    public CookieContainer Cookies { get; }

    public static ConsoleClient For(WarrenHarness edge) => new(edge.Edge.AdminPort);

    /// <summary>Fills in the login form as a browser would; returns the answer to the POST (302 on success).</summary>
    public async Task<HttpResponseMessage> LoginAsync(string token, string returnTo = "/console")
    {
        var form = await Http.GetStringAsync("/console/login");
        return await Http.PostAsync("/console/login", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["token"] = token,
            ["return"] = returnTo,
            ["__csrf"] = WebUtility.HtmlDecode(FormCsrf().Match(form).Groups[1].Value),
        }));
    }

    /// <summary>The antiforgery token a console page carries (its meta tag), as console.js and the forms send it.</summary>
    public async Task<string> CsrfAsync(string page = "/console")
    {
        var html = await Http.GetStringAsync(page);
        var match = MetaCsrf().Match(html);
        Assert.True(match.Success, $"{page} carries no csrf-token meta tag");
        return WebUtility.HtmlDecode(match.Groups[1].Value);
    }

    public Task<HttpResponseMessage> PostFormAsync(string path, IDictionary<string, string> fields) =>
        Http.PostAsync(path, new FormUrlEncodedContent(fields));

    public static async Task<HttpResponseMessage> GetWithBearerAsync(HttpClient client, string url, string token)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, url);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return await client.SendAsync(request);
    }

    /// <summary>A search of the request log through the admin API (docs/console.md, "Request log"), asserted to succeed.</summary>
    public static async Task<JsonElement[]> SearchAsync(WarrenHarness edge, string adminToken, string query)
    {
        using var response = await GetWithBearerAsync(edge.Client, $"http://127.0.0.1:{edge.Edge.AdminPort}/console/api/requests?{query}", adminToken);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"search {query}: {(int)response.StatusCode} {body}");
        return [.. JsonDocument.Parse(body).RootElement.EnumerateArray().Select(e => e.Clone())];
    }

    public void Dispose() => Http.Dispose();

    [GeneratedRegex("name=\"__csrf\" value=\"([^\"]+)\"")]
    private static partial Regex FormCsrf();

    [GeneratedRegex("<meta name=\"csrf-token\" content=\"([^\"]+)\">")]
    private static partial Regex MetaCsrf();
}
