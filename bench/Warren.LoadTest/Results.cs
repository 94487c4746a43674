using System.Text.Json;

namespace Warren.LoadTest;

/// <summary>One wrk run (from bench/wrk-report.lua) with the CPU and peak RSS of the Warren processes during it.</summary>
internal sealed record WrkRun(string Phase, string Target, int Conns, double Requests, double Seconds, double Bytes,
    double MeanMs, double P50Ms, double P99Ms, double Errors, double Timeouts, double CpuEdgeMs, double CpuAgentMs,
    double RssEdgeKb, double RssAgentKb)
{
    public double Rps => Seconds > 0 ? Requests / Seconds : 0;
    public double MBps => Seconds > 0 ? Bytes / Seconds / 1e6 : 0;
}

internal sealed record Bulk(string Direction, string Target, double Bytes, double Seconds)
{
    public double MBps => Seconds > 0 ? Bytes / Seconds / 1e6 : 0;
}

internal sealed record ServiceRun(int Count, double RoutableMs, double IdleSeconds, double CpuEdgeMs, double CpuAgentMs,
    double RssEdgeKb, double RssAgentKb)
{
    public double IdleCpuPercent => IdleSeconds > 0 ? (CpuEdgeMs + CpuAgentMs) / (IdleSeconds * 1000) * 100 : 0;
    public double RssKb => RssEdgeKb + RssAgentKb;
}

/// <summary>bench/run.sh's results file: one JSON object per line, told apart by "kind".</summary>
internal sealed class BenchResults
{
    public List<WrkRun> Wrk { get; } = [];
    public List<Bulk> Bulks { get; } = [];
    public List<ServiceRun> Services { get; } = [];
    public JsonElement? WebSockets { get; private set; }

    public static BenchResults Load(string path)
    {
        var results = new BenchResults();
        foreach (var line in File.ReadLines(path))
        {
            if (string.IsNullOrWhiteSpace(line))
            {
                continue;
            }
            using var doc = JsonDocument.Parse(line);
            var e = doc.RootElement;
            switch (e.GetProperty("kind").GetString())
            {
                case "wrk":
                    var w = e.GetProperty("wrk");
                    results.Wrk.Add(new WrkRun(S(e, "phase"), S(e, "target"), (int)N(e, "conns"), N(w, "requests"),
                        N(w, "duration_us") / 1e6, N(w, "bytes"), N(w, "mean_us") / 1000, N(w, "p50_us") / 1000,
                        N(w, "p99_us") / 1000, N(w, "err_connect") + N(w, "err_read") + N(w, "err_write") + N(w, "err_status"),
                        N(w, "err_timeout"), N(e, "cpu_edge_ms"), N(e, "cpu_agent_ms"), N(e, "rss_edge_kb"), N(e, "rss_agent_kb")));
                    break;
                case "bulk":
                    results.Bulks.Add(new Bulk(S(e, "dir"), S(e, "target"), N(e, "bytes"), N(e, "seconds")));
                    break;
                case "services":
                    results.Services.Add(new ServiceRun((int)N(e, "n"), N(e, "routable_ms"), N(e, "idle_s"), N(e, "cpu_edge_ms"),
                        N(e, "cpu_agent_ms"), N(e, "rss_edge_kb"), N(e, "rss_agent_kb")));
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

    private static string S(JsonElement e, string name) => e.TryGetProperty(name, out var v) ? v.GetString() ?? "" : "";

    private static double N(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetDouble() : 0;
}
