using System.Text;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace Warren.Admin;

/// <summary>
/// The console's pages are HTML written here, server-side, with every value from outside encoded (a service name, a
/// request path, a header: anything a client or an agent chose). No inline script or style: the CSP forbids them.
/// </summary>
internal static class Html
{
    public static string Encode(string? text) => HtmlEncoder.Default.Encode(text ?? "");

    public static string Encode(long value) => value.ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>A page without the console's navigation (login, "console disabled").</summary>
    public static string Bare(string title, string body) => Document(title, $"<main class=\"bare\">{body}</main>", "");

    /// <summary>A console page: navigation, logout, and the antiforgery token the scripts send with their POSTs.</summary>
    public static string Page(HttpContext context, ConsoleFrame frame, string title, string body, string? pageScript = null)
    {
        var csrf = context.RequestServices.GetRequiredService<IAntiforgery>().GetAndStoreTokens(context).RequestToken;
        var nav = new StringBuilder();
        var path = context.Request.Path.Value ?? "";
        foreach (var (href, label) in frame.Nav)
        {
            var current = path == href || (href != "/console" && path.StartsWith(href, StringComparison.Ordinal));
            nav.Append($"<a href=\"{Encode(href)}\"{(current ? " aria-current=\"page\"" : "")}>{Encode(label)}</a>");
        }
        var header = $"""
            <header>
              <span class="brand">Warren <small>{Encode(frame.Role)}</small></span>
              <nav>{nav}</nav>
              <form method="post" action="{LoginEndpoints.LogoutPath}" class="logout">
                <input type="hidden" name="{AdminSecurity.CsrfField}" value="{Encode(csrf)}">
                <button type="submit">Log out</button>
              </form>
            </header>
            """;
        var scripts = $"<script src=\"{ConsoleAssets.Uplot}\"></script><script src=\"{ConsoleAssets.Script}\"></script>"
            + (pageScript is null ? "" : $"<script src=\"{Encode(pageScript)}\"></script>");
        return Document(title, $"{header}<main>{body}</main>", scripts, csrf);
    }

    /// <summary>
    /// A live chart: <paramref name="pick"/> chooses which values of the key's vector it draws (console.js fills it
    /// from the page's event stream). <paramref name="data"/>, when given, is a fixed chart instead: [[t...], [v...], ...].
    /// </summary>
    public static string Chart(string key, string pick, string labels, string unit = "", int height = 140, bool compact = false, string? data = null) =>
        $"<div class=\"chart\" data-chart=\"{Encode(key)}\" data-pick=\"{pick}\" data-labels=\"{Encode(labels)}\" data-unit=\"{unit}\" data-height=\"{height}\""
        + (compact ? " data-legend=\"false\" data-axes=\"false\"" : "")
        + (data is null ? "" : $" data-static=\"{Encode(data)}\"") + "></div>";

    /// <summary>A number the event stream keeps current: value <paramref name="index"/> of the key's vector.</summary>
    public static string Live(string key, int index, string unit = "") =>
        $"<span data-value=\"{Encode(key)}\" data-index=\"{index}\" data-unit=\"{unit}\">–</span>";

    /// <summary>A hidden antiforgery field for a form on a console page.</summary>
    public static string CsrfField(HttpContext context) =>
        $"<input type=\"hidden\" name=\"{AdminSecurity.CsrfField}\" value=\"{Encode(context.RequestServices.GetRequiredService<IAntiforgery>().GetAndStoreTokens(context).RequestToken)}\">";

    public static async Task WriteAsync(HttpContext context, int status, string html)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "text/html; charset=utf-8";
        await context.Response.WriteAsync(html, context.RequestAborted).ConfigureAwait(false);
    }

    /// <summary>Bytes as "1.5 MB" (powers of 1000, as the size settings read them).</summary>
    public static string Bytes(double bytes)
    {
        string[] units = ["B", "kB", "MB", "GB", "TB"];
        var unit = 0;
        while (Math.Abs(bytes) >= 1000 && unit < units.Length - 1)
        {
            bytes /= 1000;
            unit++;
        }
        return unit == 0 ? $"{bytes:0} B" : $"{bytes:0.0} {units[unit]}";
    }

    private static string Document(string title, string body, string scripts, string? csrf = null) => $"""
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        {(csrf is null ? "" : $"<meta name=\"csrf-token\" content=\"{Encode(csrf)}\">")}
        <title>{Encode(title)} · Warren</title>
        <link rel="stylesheet" href="{ConsoleAssets.UplotCss}">
        <link rel="stylesheet" href="{ConsoleAssets.Css}">
        </head>
        <body>
        {body}
        {scripts}
        </body>
        </html>
        """;
}
