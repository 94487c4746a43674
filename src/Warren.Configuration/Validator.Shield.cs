namespace Warren.Configuration;

/// <summary>edge.yaml's <c>shield</c> (docs/configuration.md, "shield").</summary>
internal static partial class Validator
{
    private static void CheckShield(Diagnostics d, ShieldConfig shield)
    {
        CheckRange(d, "shield.auth_failures", shield.AuthFailures, 0, 1_000_000);
        CheckRange(d, "shield.limit_hits", shield.LimitHits, 0, 1_000_000);
        CheckRange(d, "shield.window", shield.Window, TimeSpan.FromSeconds(1), TimeSpan.FromHours(24));
        CheckRange(d, "shield.ban_time", shield.BanTime, TimeSpan.FromSeconds(1), TimeSpan.FromDays(365));
        CheckRange(d, "shield.max_bans", shield.MaxBans, 1, 10_000_000);
        CheckRange(d, "shield.ipv4_prefix", shield.Ipv4Prefix, 16, 32);
        CheckRange(d, "shield.ipv6_prefix", shield.Ipv6Prefix, 32, 128);
        for (var i = 0; i < shield.Exempt.Count; i++)
        {
            if (!ConfigFormats.TryParseNetwork(shield.Exempt[i], out _))
            {
                d.Report(Diagnostics.Item("shield.exempt", i), $"'{LogText.Bound(shield.Exempt[i], 64)}' is not an IP address or CIDR range; use e.g. 192.0.2.7 or 192.0.2.0/24 (a range's address must have no bits set past its prefix)");
            }
        }
    }
}
