using Prometheus;

namespace Warren.Edge.Shield;

/// <summary>
/// The abuse shield's metrics (docs/observability.md): warren_shield_bans_total{reason}, warren_shield_banned (bans in
/// force) and warren_shield_refused_total{kind} (requests and connections refused because of a ban, <see cref="ShieldRefusal"/>).
/// </summary>
internal sealed class ShieldMetrics
{
    private readonly Counter _bans;
    private readonly Counter.Child[] _refused;

    public ShieldMetrics(CollectorRegistry registry, Func<double> banned)
    {
        var factory = Metrics.WithCustomRegistry(registry);
        _bans = factory.CreateCounter("warren_shield_bans_total", "Client addresses banned by the abuse shield, by what caused the ban.", ["reason"]);
        var refused = factory.CreateCounter("warren_shield_refused_total", "HTTP requests and TCP connections refused because their client address is banned.", ["kind"]);
        _refused = [refused.WithLabels("http"), refused.WithLabels("tcp"), refused.WithLabels("connection"), refused.WithLabels("agent")];
        var gauge = factory.CreateGauge("warren_shield_banned", "Client addresses banned now.");
        registry.AddBeforeCollectCallback(() => gauge.Set(banned()));
    }

    /// <summary><paramref name="reason"/>: auth_failures, limit_hits or admin.</summary>
    public void Banned(string reason) => _bans.WithLabels(reason).Inc();

    public void Refused(ShieldRefusal kind) => _refused[(int)kind].Inc();
}
