namespace Warren.Configuration;

/// <summary>YAML key <c>rate_limit</c>: token buckets per client IP and for the service as a whole; past them, 429 with Retry-After.</summary>
public sealed record RateLimitConfig
{
    /// <summary>YAML key <c>per_ip</c>: one bucket per client address (per service).</summary>
    public RateConfig? PerIp { get; init; }

    /// <summary>YAML key <c>per_service</c>: one bucket shared by every client of the service.</summary>
    public RateConfig? PerService { get; init; }
}
