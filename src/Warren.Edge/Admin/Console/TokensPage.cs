using System.Globalization;
using System.Text;
using Microsoft.AspNetCore.Http;
using Warren.Admin;
using Warren.Configuration;
using Warren.Edge.Dashboard;
using Warren.Edge.Tokens;
using static Warren.Edge.Admin.Console.EdgePages;

namespace Warren.Edge.Admin.Console;

/// <summary>
/// /console/tokens: the agent tokens, from edge.yaml and from the store <c>warren token</c> uses (the same
/// <c>{data}/warren.db</c>): create one (its secret is shown once, on the answer to the form, and never again),
/// list them, revoke a stored one (its live sessions close at once). docs/console.md, "Tokens".
/// </summary>
internal static class TokensPage
{
    public static async Task RenderAsync(HttpContext context, EdgeConsole console, string? secret = null, string? createdName = null, string? error = null, int status = StatusCodes.Status200OK,
        IReadOnlyList<StoredToken>? stored = null)
    {
        stored ??= await console.Database.RunAsync(() =>
        {
            return console.Tokens.Store?.List() ?? [];
        }).ConfigureAwait(false);
        var storedNames = stored.Select(t => t.Name).ToHashSet(StringComparer.Ordinal);
        var html = new StringBuilder("<h1>Tokens</h1>");
        if (secret is not null)
        {
            html.Append(CultureInfo.InvariantCulture, $"""
                <div class="secret" role="status"><p>Token <strong>{E(createdName)}</strong> created. Copy its secret now: it is shown this once, and only its SHA-256 is stored.</p>
                <p><code id="new-secret">{E(secret)}</code></p></div>
                """);
        }
        if (error is not null)
        {
            html.Append(CultureInfo.InvariantCulture, $"<p class=\"error\" role=\"alert\">{E(error)}</p>");
        }
        html.Append("<table class=\"tokens\"><thead><tr><th>Name</th><th>From</th><th>State</th><th>Hosts</th><th>Ports</th><th>Private services</th><th class=\"num\">Max sessions</th><th>Quota</th><th>Created (UTC)</th><th class=\"num\">Sessions</th><th></th></tr></thead><tbody>");
        var sessions = console.State.Sessions.GroupBy(s => s.TokenName).ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);
        foreach (var grant in console.Tokens.Grants.Where(g => !storedNames.Contains(g.Name)).OrderBy(g => g.Name, StringComparer.Ordinal))
        {
            html.Append(Row(grant.Name, "edge.yaml", true, grant.AllowHosts, grant.AllowPorts, new PrivateGrant(grant.AllowPrivate, grant.AllowConnect), grant.MaxSessions, grant.Quota, null,
                sessions.GetValueOrDefault(grant.Name), context, revocable: false));
        }
        foreach (var token in stored)
        {
            html.Append(Row(token.Name, "store", token.RevokedAt is null, token.AllowHosts, token.AllowPorts, new PrivateGrant(token.AllowPrivate, token.AllowConnect), token.MaxSessions, token.Quota, token.CreatedAt,
                sessions.GetValueOrDefault(token.Name), context, revocable: token.RevokedAt is null));
        }
        html.Append("</tbody></table>");
        html.Append(CultureInfo.InvariantCulture, $"""
            <h2>Create a token</h2>
            <form class="stack" method="post" action="/console/tokens">
              {Html.CsrfField(context)}
              <label>Name<input name="name" required maxlength="64" pattern="[A-Za-z0-9._-]+"></label>
              <label>Hostnames it may publish (comma-separated: app.example.com, *.example.com)<input name="hosts"></label>
              <label>TCP ports it may publish (comma-separated)<input name="ports"></label>
              <label>Private services it may publish (comma-separated names; reached only through warren connect)<input name="allow_private"></label>
              <label>Private services it may reach with warren connect (comma-separated names)<input name="allow_connect"></label>
              <label>Max live sessions (empty: no limit)<input name="max_sessions" inputmode="numeric"></label>
              <label>Daily quota (e.g. 10GB; empty: none)<input name="quota_daily"></label>
              <label>Monthly quota (e.g. 200GB; empty: none)<input name="quota_monthly"></label>
              <button type="submit" id="create-token">Create</button>
            </form>
            <p class="muted">The same store as <code>warren token create|list|revoke</code>; tokens in edge.yaml are changed there.</p>
            """);
        await WriteAsync(context, "Tokens", html.ToString(), status).ConfigureAwait(false);
    }

    private static string Row(string name, string from, bool active, IReadOnlyList<string> hosts, IReadOnlyList<int> ports, PrivateGrant privateServices, int? maxSessions, QuotaConfig? quota,
        DateTimeOffset? created, int sessions, HttpContext context, bool revocable)
    {
        var quotaText = quota is null ? "–" : string.Join(", ", new[] { quota.Daily is { } d ? Html.Bytes(d) + "/day" : null, quota.Monthly is { } m ? Html.Bytes(m) + "/month" : null }.OfType<string>());
        var revoke = revocable
            ? $"""<form method="post" action="/console/tokens/{Uri.EscapeDataString(name)}/revoke" class="inline" data-confirm="Revoke token {E(name)}? Its agents are disconnected at once.">{Html.CsrfField(context)}<button type="submit" class="danger" data-revoke="{E(name)}">Revoke</button></form>"""
            : "";
        return $"""
            <tr data-token="{E(name)}"><td>{E(name)}</td><td>{from}</td><td>{(active ? "<span class=\"badge ok\">active</span>" : "<span class=\"badge bad\">revoked</span>")}</td>
            <td class="mono">{E(string.Join(", ", hosts))}</td><td class="mono">{E(string.Join(", ", ports))}</td><td class="mono">{E(PrivateText(privateServices))}</td><td class="num">{(maxSessions?.ToString(CultureInfo.InvariantCulture) ?? "–")}</td>
            <td>{E(quotaText)}</td><td class="mono">{(created is { } c ? Time(c) : "–")}</td><td class="num">{sessions}</td><td>{revoke}</td></tr>
            """;
    }

    /// <summary>"publish: a, b; connect: c", as <c>warren token list</c> shows the private grants; empty when none.</summary>
    private static string PrivateText(PrivateGrant grant) => string.Join("; ", new[]
    {
        grant.Publish.Count > 0 ? "publish: " + string.Join(", ", grant.Publish) : null,
        grant.Connect.Count > 0 ? "connect: " + string.Join(", ", grant.Connect) : null,
    }.OfType<string>());

    /// <summary>The create form: checked by the same rules as <c>warren token create</c>.</summary>
    public static async Task CreateAsync(HttpContext context, EdgeConsole console)
    {
        var form = await context.Request.ReadFormAsync(context.RequestAborted).ConfigureAwait(false);
        var name = form["name"].ToString().Trim();
        var hosts = Split(form["hosts"].ToString()).Select(HostNames.ToLowerAscii).ToArray();
        var portTexts = Split(form["ports"].ToString());
        var ports = new List<int>();
        foreach (var text in portTexts)
        {
            if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var port))
            {
                await RenderAsync(context, console, error: $"port '{text}' is not a number", status: StatusCodes.Status400BadRequest).ConfigureAwait(false);
                return;
            }
            ports.Add(port);
        }
        int? maxSessions = null;
        if (form["max_sessions"].ToString().Trim() is { Length: > 0 } max)
        {
            if (!int.TryParse(max, NumberStyles.None, CultureInfo.InvariantCulture, out var m))
            {
                await RenderAsync(context, console, error: $"max sessions '{max}' is not a number", status: StatusCodes.Status400BadRequest).ConfigureAwait(false);
                return;
            }
            maxSessions = m;
        }
        long? daily = null, monthly = null;
        foreach (var (field, set) in new (string, Action<long>)[] { ("quota_daily", v => daily = v), ("quota_monthly", v => monthly = v) })
        {
            if (form[field].ToString().Trim() is { Length: > 0 } size)
            {
                if (!ConfigFormats.TryParseSize(size, out var bytes))
                {
                    await RenderAsync(context, console, error: $"'{size}' is not a size (e.g. 10GB, 512MiB)", status: StatusCodes.Status400BadRequest).ConfigureAwait(false);
                    return;
                }
                set(bytes);
            }
        }
        var quota = daily is null && monthly is null ? null : new QuotaConfig { Daily = daily, Monthly = monthly };
        var privateServices = new PrivateGrant(Split(form["allow_private"].ToString()), Split(form["allow_connect"].ToString()));
        var problem = TokenRules.Problem(name, hosts, ports, maxSessions, TokenRules.FormFields, quota, privateServices);
        if (problem is null && console.Tokens.Grants.Any(g => g.Name == name))
        {
            problem = $"a token named '{name}' exists already";
        }
        if (problem is not null)
        {
            await RenderAsync(context, console, error: problem, status: StatusCodes.Status400BadRequest).ConfigureAwait(false);
            return;
        }
        string secret;
        IReadOnlyList<StoredToken> stored;
        try
        {
            // The list the page shows is read in the same piece of work: the secret is shown this once, so the page
            // that carries it must not wait for a second place in a queue that may be full by then (a 503 there
            // would lose a token that was created).
            (secret, stored) = await console.Database.RunAsync(() =>
            {
                var store = console.Tokens.Store ?? throw new InvalidOperationException("this edge has no token database");
                var created = store.Create(name, hosts, ports, maxSessions, quota, privateServices);
                console.Tokens.Refresh(); // agents may use it now, not at the next poll
                console.Accounting.RefreshQuotas();
                return (created, store.List());
            }).ConfigureAwait(false);
        }
        catch (InvalidOperationException ex)
        {
            await RenderAsync(context, console, error: ex.Message, status: StatusCodes.Status409Conflict).ConfigureAwait(false);
            return;
        }
        await RenderAsync(context, console, secret, name, stored: stored).ConfigureAwait(false);
    }

    public static Task RevokeAsync(EdgeConsole console, string name) => console.Database.RunAsync(() =>
    {
        console.Tokens.Store?.Revoke(name);
        console.Tokens.Refresh(); // its sessions close now (TokenValidator.TokensRevoked)
        console.Accounting.RefreshQuotas();
        return true;
    });

    private static string[] Split(string text) => [.. text.Split([',', ' ', '\n'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)];
}
