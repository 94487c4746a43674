namespace Warren.Admin;

/// <summary>Who the admin listener is for and how it lets them in (docs/console.md, "Logging in").</summary>
internal sealed record AdminOptions
{
    /// <summary>
    /// The admin token (edge.yaml / agent.yaml <c>admin_token</c>); null: none is set, and then only what a loopback
    /// listener always served stays open (the probes, and GET on /metrics and /api/*); the console and every unsafe
    /// method are refused, because without a secret a page on any site could drive them (docs/security.md).
    /// </summary>
    public string? Token { get; init; }

    /// <summary>"edge" or "agent": names the cookies, so an edge and an agent on one host keep separate logins.</summary>
    public required string Role { get; init; }

    /// <summary>How long a login lasts without a request; each request renews it (sliding).</summary>
    public TimeSpan SessionIdle { get; init; } = TimeSpan.FromHours(8);

    /// <summary>Failed logins one client address may make per minute before it gets 429.</summary>
    public int LoginAttemptsPerMinute { get; init; } = 10;

    public string CookieName => $"warren_{Role}_session";

    public string AntiforgeryCookieName => $"warren_{Role}_csrf";
}
