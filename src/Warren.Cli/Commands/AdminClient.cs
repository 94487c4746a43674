using System.Net;
using System.Net.Http;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace Warren.Cli.Commands;

/// <summary>
/// How the CLI's runtime commands (<c>warren reload</c>, <c>sessions</c>, <c>drain</c>, ...) talk to an admin listener:
/// one request, the admin token as <c>Authorization: Bearer</c>, and one clear sentence when nothing answers or the
/// token is refused.
/// </summary>
internal static class AdminClient
{
    /// <summary>The answer's status and body, or <c>Problem</c> saying why there is none worth reading.</summary>
    public static async Task<(HttpStatusCode Status, string Body, string? Problem)> SendAsync(
        HttpMethod method, string admin, string path, string? token, string? json, CancellationToken cancellationToken)
    {
        var baseUri = admin.Contains("://", StringComparison.Ordinal) ? admin.TrimEnd('/') : "http://" + admin;
        // A reload reads files and may load certificates: more time than a status read.
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(60) };
        try
        {
            using var request = new HttpRequestMessage(method, new Uri(baseUri + path));
            if (!string.IsNullOrEmpty(token))
            {
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
            }
            if (json is not null)
            {
                request.Content = new StringContent(json, Encoding.UTF8, "application/json");
            }
            using var response = await http.SendAsync(request, cancellationToken).ConfigureAwait(false);
            var body = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
            if (response.StatusCode == HttpStatusCode.Unauthorized)
            {
                var why = string.IsNullOrEmpty(token) ? $"it needs the admin token: pass --admin-token or set {StatusCommand.TokenVariable}" : "the admin token was refused";
                return (response.StatusCode, body, $"{baseUri}{path} answered 401 Unauthorized: {why}");
            }
            if (response.StatusCode == HttpStatusCode.NotFound && body.Length == 0)
            {
                return (response.StatusCode, body, $"{baseUri}{path} answered 404: is this a Warren admin listener, and new enough for this command?");
            }
            return (response.StatusCode, body, null);
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or UriFormatException)
        {
            return (0, "", $"no answer from the admin address {admin} ({ex.Message}). Is the edge or agent running, and is its admin listener there? Try --admin HOST:PORT");
        }
    }

    /// <summary>
    /// One call for a runtime command: the answer's JSON when it is a success, else null after telling
    /// <paramref name="error"/> why (<c>warren NAME: ...</c>), with the API's own <c>error</c> sentence when it gave one.
    /// </summary>
    public static async Task<JsonElement?> CallAsync(string command, HttpMethod method, string admin, string path, string? token, string? json,
        TextWriter error, CancellationToken cancellationToken)
    {
        var (status, body, problem) = await SendAsync(method, admin, path, token, json, cancellationToken).ConfigureAwait(false);
        if (problem is not null)
        {
            await error.WriteLineAsync($"warren {command}: {problem}").ConfigureAwait(false);
            return null;
        }
        JsonElement? parsed = null;
        try
        {
            parsed = body.Length == 0 ? null : JsonDocument.Parse(body).RootElement.Clone();
        }
        catch (JsonException)
        {
        }
        if ((int)status is < 200 or > 299)
        {
            var why = parsed is { ValueKind: JsonValueKind.Object } o && o.TryGetProperty("error", out var e) ? e.GetString() : body;
            await error.WriteLineAsync($"warren {command}: {(int)status} {status}: {why}").ConfigureAwait(false);
            return null;
        }
        return parsed ?? default(JsonElement);
    }
}
