using System.Globalization;
using System.Text;
using Microsoft.AspNetCore.Http;
using Warren.Admin;
using Warren.Edge.Inspector;
using static Warren.Edge.Admin.Console.EdgePages;

namespace Warren.Edge.Admin.Console;

/// <summary>/console/inspector/ID: one captured exchange, and the form that replays it (docs/console.md, "Inspector").</summary>
internal static class InspectorPage
{
    public static Task RenderAsync(HttpContext context, Capture c, int maxBody)
    {
        var id = c.Id.ToString(CultureInfo.InvariantCulture);
        var html = new StringBuilder();
        html.Append(CultureInfo.InvariantCulture, $"<h1>{E(c.Method)} {E(c.Host)}{E(c.PathAndQuery)} {StatusBadge(c.Status, c.Error)}</h1>");
        html.Append(CultureInfo.InvariantCulture, $"""
            <dl class="details">
              <dt>Id</dt><dd>{id}{(c.ReplayOf is { } of ? $" (replay of <a href=\"/console/inspector/{of}\">{of}</a>)" : "")}</dd>
              <dt>Service</dt><dd>{ServiceLink(c.Service)}</dd>
              <dt>Kind</dt><dd>{E(c.Kind)}</dd>
              <dt>Time (UTC)</dt><dd class="mono">{Time(c.Time)}</dd>
              <dt>Client</dt><dd class="mono">{E(c.Client ?? "–")}</dd>
              <dt>Duration</dt><dd>{(c.DurationMs is { } ms ? Ms(ms) + " ms" : "still open")}</dd>
              <dt>Bytes in / out</dt><dd>{Html.Bytes(c.BytesIn)} / {Html.Bytes(c.BytesOut)}</dd>
              <dt>Error</dt><dd class="bad">{E(c.Error.Length == 0 ? "–" : c.Error)}</dd>
            </dl>
            """);
        if (c.Kind != "tcp")
        {
            html.Append("<div class=\"charts\"><div><h2>Request</h2>").Append(Headers(c.RequestHeaders)).Append(Body(c.RequestBody))
                .Append("</div><div><h2>Response</h2>").Append(Headers(c.ResponseHeaders)).Append(Body(c.ResponseBody)).Append("</div></div>");
        }
        var (events, dropped) = c.Events();
        if (events.Count > 0)
        {
            html.Append(c.Kind == "tcp" ? "<h2>Timeline</h2>" : "<h2>Messages</h2>");
            if (dropped > 0)
            {
                html.Append(CultureInfo.InvariantCulture, $"<p class=\"muted\">{dropped} earlier entries not kept.</p>");
            }
            html.Append("<table class=\"events\"><thead><tr><th>Time (UTC)</th><th>Direction</th><th>What</th><th class=\"num\">Bytes</th></tr></thead><tbody>");
            foreach (var e in events)
            {
                html.Append(CultureInfo.InvariantCulture, $"<tr><td class=\"mono\">{E(e.Time.UtcDateTime.ToString("HH:mm:ss.fff", CultureInfo.InvariantCulture))}</td><td>{E(e.Direction)}</td><td>{E(e.What)}</td><td class=\"num\">{N(e.Bytes)}</td></tr>");
            }
            html.Append("</tbody></table>");
        }
        if (c.Kind is "http" or "replay")
        {
            var headers = string.Join("\n", c.RequestHeaders.Where(h => h.Value != RequestInspector.Masked && !ReplaySender.IsSkipped(h.Key)).Select(h => $"{h.Key}: {h.Value}"));
            var body = c.RequestBody.Snapshot();
            var text = Utf8(body);
            html.Append(CultureInfo.InvariantCulture, $"""
                <h2>Replay</h2>
                <p class="muted">Sent straight to the service through its agent, past the edge's policies; masked headers are not sent unless typed in again.
                {(c.RequestBody.Truncated ? $"The body was cut at {Html.Bytes(maxBody)}: the replay sends what is shown." : "")}</p>
                <form class="stack" method="post" action="/console/inspector/{id}/replay">
                  {Html.CsrfField(context)}
                  <label>Method<input name="method" value="{E(c.Kind == "replay" || c.Method.Length > 0 ? c.Method : "GET")}" size="8"></label>
                  <label>Path and query<input name="path" value="{E(c.PathAndQuery)}" class="mono"></label>
                  <label>Headers (one "Name: value" a line)<textarea name="headers">{E(headers)}</textarea></label>
                  <label>Body<textarea name="body">{E(text ?? "")}</textarea></label>
                  <button type="submit" id="replay">Replay</button>
                </form>
                """);
        }
        return WriteAsync(context, "Inspector " + id, html.ToString());
    }

    private static string Headers(IReadOnlyList<KeyValuePair<string, string>> headers)
    {
        if (headers.Count == 0)
        {
            return "<p class=\"muted\">–</p>";
        }
        var html = new StringBuilder("<table class=\"headers\"><tbody>");
        foreach (var (name, value) in headers)
        {
            html.Append(CultureInfo.InvariantCulture, $"<tr><th class=\"mono\">{E(name)}</th><td class=\"mono{(value == RequestInspector.Masked ? " muted" : "")}\">{E(value)}</td></tr>");
        }
        return html.Append("</tbody></table>").ToString();
    }

    private static string Body(BodyCapture body)
    {
        var bytes = body.Snapshot();
        var total = body.Total;
        if (total == 0)
        {
            return "<p class=\"muted\">No body.</p>";
        }
        var note = body.Truncated ? $"<p class=\"muted\">First {Html.Bytes(bytes.Length)} of {Html.Bytes(total)}.</p>" : $"<p class=\"muted\">{Html.Bytes(total)}.</p>";
        if (Utf8(bytes) is { } text)
        {
            return note + $"<pre class=\"body\">{E(text)}</pre>";
        }
        // Binary: a hex dump of the first KiB.
        var hex = new StringBuilder();
        for (var i = 0; i < Math.Min(bytes.Length, 1024); i += 16)
        {
            var line = bytes.AsSpan(i, Math.Min(16, bytes.Length - i));
            hex.Append(CultureInfo.InvariantCulture, $"{i:x6}  {Convert.ToHexString(line).ToLowerInvariant()}\n");
        }
        return note + $"<pre class=\"body hex\">{E(hex.ToString())}</pre>";
    }

    /// <summary>The bytes as text when they are UTF-8 without control characters (but tabs and newlines); null for binary.</summary>
    internal static string? Utf8(byte[] bytes)
    {
        try
        {
            var text = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(bytes);
            return text.Any(ch => char.IsControl(ch) && ch is not '\n' and not '\r' and not '\t') ? null : text;
        }
        catch (DecoderFallbackException)
        {
            // A cut in the middle of a multi-byte character: try without the last 3 bytes.
            return bytes.Length > 3 ? TryTrimmed(bytes) : null;
        }
    }

    private static string? TryTrimmed(byte[] bytes)
    {
        for (var cut = 1; cut <= 3; cut++)
        {
            try
            {
                var text = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(bytes, 0, bytes.Length - cut);
                return text.Any(ch => char.IsControl(ch) && ch is not '\n' and not '\r' and not '\t') ? null : text;
            }
            catch (DecoderFallbackException)
            {
            }
        }
        return null;
    }
}
