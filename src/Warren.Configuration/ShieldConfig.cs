namespace Warren.Configuration;

/// <summary>
/// edge.yaml's <c>shield</c>: the abuse shield (docs/policy.md, "Abuse shield"). A client address that a service's
/// policy refuses too often within <see cref="Window"/> (failed authentication, or rate and connection limits) is
/// banned edge-wide for <see cref="BanTime"/>: every HTTP request and TCP connection from it is refused. Bans are kept
/// in the data folder's warren.db and survive a restart.
/// </summary>
public sealed record ShieldConfig
{
    /// <summary>YAML key <c>enabled</c>: default true. Only policy refusals count, so an edge without policies never bans.</summary>
    public bool Enabled { get; init; } = true;

    /// <summary>YAML key <c>auth_failures</c>: 401/403 answers of an authenticating layer per window that ban; 0: never for these. Default 20.</summary>
    public int AuthFailures { get; init; } = 20;

    /// <summary>YAML key <c>limit_hits</c>: rate-limit (429) and TCP connection-limit refusals per window that ban; 0: never for these. Default 300.</summary>
    public int LimitHits { get; init; } = 300;

    /// <summary>YAML key <c>window</c>: the counting window (fixed, per address). Default 10m; 1s to 24h.</summary>
    public TimeSpan Window { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>YAML key <c>ban_time</c>: how long a ban lasts. Default 1h; 1s to 365 days.</summary>
    public TimeSpan BanTime { get; init; } = TimeSpan.FromHours(1);

    /// <summary>YAML key <c>max_bans</c>: bans held at once; past it no new ban is made (and a warning is logged). Default 100000.</summary>
    public int MaxBans { get; init; } = 100_000;

    /// <summary>YAML key <c>exempt</c>: addresses and CIDRs never banned (monitoring, the office). Default none.</summary>
    public IReadOnlyList<string> Exempt { get; init; } = [];

    /// <summary>
    /// YAML key <c>ipv4_prefix</c>: an IPv4 client is counted and banned with the addresses of its /N. Default 32 (the
    /// address alone); 16 to 32.
    /// </summary>
    public int Ipv4Prefix { get; init; } = 32;

    /// <summary>
    /// YAML key <c>ipv6_prefix</c>: an IPv6 client is counted and banned with the addresses of its /N. Default 64: one
    /// host usually holds a whole /64 and can take any address in it, so a ban per address would be no ban. 32 to 128.
    /// </summary>
    public int Ipv6Prefix { get; init; } = 64;
}
