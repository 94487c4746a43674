namespace Warren.Configuration;

/// <summary>A rate: <see cref="Requests"/> every <see cref="Per"/>, with bursts up to <see cref="Burst"/> (default: <see cref="Requests"/>).</summary>
public sealed record RateConfig
{
    /// <summary>YAML key <c>requests</c>, 1..1000000.</summary>
    public int Requests { get; init; }

    /// <summary>YAML key <c>per</c>, 1 s to 24 h. Default 1 s.</summary>
    public TimeSpan Per { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>YAML key <c>burst</c>: the bucket's size, at least <see cref="Requests"/>.</summary>
    public int? Burst { get; init; }
}
