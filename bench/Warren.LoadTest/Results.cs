using System.Text.Json;

namespace Warren.LoadTest;

/// <summary>CPU (utime + stime) one process group used during a run, and its peak summed VmRSS.</summary>
internal sealed record ProcCost(double CpuMs, double RssKb);

/// <summary>One wrk run (from the run's wrk-report.lua) with the cost of the target's processes during it.</summary>
internal sealed record WrkRun(string Phase, string Target, int Conns, double Requests, double Seconds, double Bytes,
    double MeanMs, double P50Ms, double P99Ms, double Errors, double Timeouts, IReadOnlyDictionary<string, ProcCost> Procs)
{
    public double Rps => Seconds > 0 ? Requests / Seconds : 0;
    public double MBps => Seconds > 0 ? Bytes / Seconds / 1e6 : 0;
    public double CpuMs => Procs.Values.Sum(p => p.CpuMs);
    public double RssKb => Procs.Values.Sum(p => p.RssKb);

    /// <summary>CPU milliseconds per 1,000 requests, all the target's processes together; null when not measured.</summary>
    public double? CpuPer1000 => Procs.Count > 0 && Requests > 0 ? CpuMs / Requests * 1000 : null;

    public double? CpuPer1000Of(string proc) => Procs.TryGetValue(proc, out var p) && Requests > 0 ? p.CpuMs / Requests * 1000 : null;
}

/// <summary>One curl transfer; Status is its HTTP status (0 when the run predates recording it).</summary>
internal sealed record Bulk(string Direction, string Target, int Status, double Bytes, double Seconds)
{
    public bool Ok => Status is 0 or 200 && Bytes > 0;
    public double MBps => Ok && Seconds > 0 ? Bytes / Seconds / 1e6 : 0;
}

/// <summary>One pgbench -S run.</summary>
internal sealed record PgBench(string Target, int Clients, double Tps, double LatencyMs, double Failed, double Transactions,
    IReadOnlyDictionary<string, ProcCost> Procs)
{
    public double? CpuPer1000 => Procs.Count > 0 && Transactions > 0 ? Procs.Values.Sum(p => p.CpuMs) / Transactions * 1000 : null;
}

/// <summary>VmRSS of each group at one moment ("start", "load_end", "after_idle"), with the CPU used before it when idle.</summary>
internal sealed record RssSnapshot(string When, double Seconds, IReadOnlyDictionary<string, double> RssKb, IReadOnlyDictionary<string, double> CpuMs)
{
    public double Kb(string name) => RssKb.GetValueOrDefault(name);
}

/// <summary>
/// A services-phase run (one agent publishing <see cref="Count"/> services; idle from 3 s after they were routable),
/// or the settled idle window (<see cref="SettledSeconds"/> after start: bench/run.sh, "idle, settled").
/// </summary>
internal sealed record ServiceRun(int Count, double RoutableMs, double IdleSeconds, double CpuEdgeMs, double CpuAgentMs,
    double RssEdgeKb, double RssAgentKb, double SettledSeconds = 3)
{
    public double IdleCpuPercent => IdleSeconds > 0 ? (CpuEdgeMs + CpuAgentMs) / (IdleSeconds * 1000) * 100 : 0;
    public double RssKb => RssEdgeKb + RssAgentKb;
}

/// <summary>bench/run.sh's results file: one JSON object per line, told apart by "kind".</summary>
internal sealed class BenchResults
{
    public List<WrkRun> Wrk { get; } = [];
    public List<Bulk> Bulks { get; } = [];
    public List<PgBench> PgBenches { get; } = [];
    public List<RssSnapshot> Snapshots { get; } = [];
    public List<ServiceRun> Services { get; } = [];
    public ServiceRun? IdleSettled { get; private set; }
    public JsonElement? WebSockets { get; private set; }

    /// <summary>Cores the run saw (its own count, or WARREN_BENCH_CORES), and whether roles were pinned to cores.</summary>
    public int Cores { get; private set; } = Environment.ProcessorCount;
    public bool Pinned { get; private set; }
    public string Layout { get; private set; } = "";

    public static BenchResults Load(string path)
    {
        var results = new BenchResults();
        foreach (var line in File.ReadLines(path))
        {
            if (string.IsNullOrWhiteSpace(line) || !line.TrimStart().StartsWith('{'))
            {
                continue;
            }
            using var doc = JsonDocument.Parse(line);
            var e = doc.RootElement;
            switch (S(e, "kind"))
            {
                case "layout":
                    results.Cores = (int)N(e, "cores");
                    results.Pinned = e.TryGetProperty("pinned", out var pinned) && pinned.ValueKind == JsonValueKind.Number && pinned.GetInt32() == 1;
                    results.Layout = S(e, "text");
                    break;
                case "wrk":
                    var w = e.GetProperty("wrk");
                    results.Wrk.Add(new WrkRun(S(e, "phase"), S(e, "target"), (int)N(e, "conns"), N(w, "requests"),
                        N(w, "duration_us") / 1e6, N(w, "bytes"), N(w, "mean_us") / 1000, N(w, "p50_us") / 1000,
                        N(w, "p99_us") / 1000, N(w, "err_connect") + N(w, "err_read") + N(w, "err_write") + N(w, "err_status"),
                        N(w, "err_timeout"), Procs(e)));
                    break;
                case "bulk":
                    results.Bulks.Add(new Bulk(S(e, "dir"), S(e, "target"), (int)N(e, "status"), N(e, "bytes"), N(e, "seconds")));
                    break;
                case "pgbench":
                    results.PgBenches.Add(new PgBench(S(e, "target"), (int)N(e, "clients"), N(e, "tps"), N(e, "latency_ms"),
                        N(e, "failed"), N(e, "transactions"), Procs(e)));
                    break;
                case "rss":
                    results.Snapshots.Add(new RssSnapshot(S(e, "when"), N(e, "seconds"), Numbers(e, "rss_kb"), Numbers(e, "cpu_ms")));
                    break;
                case "services":
                    results.Services.Add(new ServiceRun((int)N(e, "n"), N(e, "routable_ms"), N(e, "idle_s"), N(e, "cpu_edge_ms"),
                        N(e, "cpu_agent_ms"), N(e, "rss_edge_kb"), N(e, "rss_agent_kb")));
                    break;
                case "idle_settled":
                    results.IdleSettled = new ServiceRun((int)N(e, "n"), -1, N(e, "idle_s"), N(e, "cpu_edge_ms"), N(e, "cpu_agent_ms"),
                        N(e, "rss_edge_kb"), N(e, "rss_agent_kb"), N(e, "settled_s"));
                    break;
                case "ws":
                    results.WebSockets = e.Clone();
                    break;
                default:
                    break;
            }
        }
        return results;
    }

    public WrkRun? Find(string phase, string target, int conns) =>
        Wrk.LastOrDefault(r => r.Phase == phase && r.Target == target && r.Conns == conns);

    public Bulk? FindBulk(string direction, string target) =>
        Bulks.LastOrDefault(b => b.Direction == direction && b.Target == target);

    public PgBench? FindPg(string target, int clients) =>
        PgBenches.LastOrDefault(p => p.Target == target && p.Clients == clients);

    public RssSnapshot? Snapshot(string when) => Snapshots.LastOrDefault(s => s.When == when);

    private static Dictionary<string, ProcCost> Procs(JsonElement e)
    {
        var procs = new Dictionary<string, ProcCost>(StringComparer.Ordinal);
        if (e.TryGetProperty("procs", out var p) && p.ValueKind == JsonValueKind.Object)
        {
            foreach (var g in p.EnumerateObject())
            {
                procs[g.Name] = new ProcCost(N(g.Value, "cpu_ms"), N(g.Value, "rss_kb"));
            }
        }
        return procs;
    }

    private static Dictionary<string, double> Numbers(JsonElement e, string name)
    {
        var values = new Dictionary<string, double>(StringComparer.Ordinal);
        if (e.TryGetProperty(name, out var o) && o.ValueKind == JsonValueKind.Object)
        {
            foreach (var v in o.EnumerateObject().Where(v => v.Value.ValueKind == JsonValueKind.Number))
            {
                values[v.Name] = v.Value.GetDouble();
            }
        }
        return values;
    }

    private static string S(JsonElement e, string name) => e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() ?? "" : "";

    private static double N(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetDouble() : 0;
}
