using System.Globalization;
using System.Text.Json;
using static Warren.LoadTest.Md;

namespace Warren.LoadTest;

/// <summary>One row of a targets table: what is checked, the figure from this run, the target, and the verdict.</summary>
internal sealed record TargetRow(string Name, string Measured, string Target, string Status);

/// <summary>
/// The targets of issue 11 ("The data path at the .NET floor"), one row per clause, each computed from the same run:
/// ratios to the YARP and nginx one-hop baselines, to ssh -R and to HAProxy, and Warren's own memory and idle figures.
/// </summary>
internal static class Targets
{
    private const string Met = "met";
    private const string NotMet = "**not met**";
    private const string NotMeasured = "not measured";

    public static List<TargetRow> Issue11(BenchResults r)
    {
        var rows = new List<TargetRow>();
        void Row(string name, string measured, string target, bool? met) =>
            rows.Add(new TargetRow(name, met is null ? "-" : measured, target, met is null ? NotMeasured : met.Value ? Met : NotMet));
        // A target against the YARP hop: judged on the median of the alternated pairs when the run has them, else on
        // the concurrency table's single pair (runs from before the pairs existed).
        void PairedRow(string name, string single, string target, List<double> pairs, double? singleRatio, Func<double, bool> meets)
        {
            if (pairs.Count > 0)
            {
                Row(name, Inv($"{PairsText(pairs)}; concurrency table {single}"), target, meets(Median(pairs, x => x)));
            }
            else
            {
                Row(name, single, target, singleRatio is { } ratio ? meets(ratio) : null);
            }
        }

        foreach (var c in (int[])[64, 256, 1000])
        {
            var w = r.Find("conc", "warren", c);
            var y = r.Find("conc", "yarp", c);
            var n = r.Find("conc", "nginx", c);
            PairedRow(Inv($"6 B, c{c}: req/s vs YARP one-hop"), Inv($"{N0(w?.Rps)} vs {N0(y?.Rps)} = {Ratio(w?.Rps, y?.Rps)} x"), "≥ 0.8 x",
                PairRatios(r, c, x => x.Rps), w is null || y is null ? null : w.Rps / y.Rps, ratio => ratio >= 0.8);
            Row(Inv($"6 B, c{c}: req/s vs nginx one-hop"), Inv($"{N0(w?.Rps)} vs {N0(n?.Rps)} = {Ratio(w?.Rps, n?.Rps)} x"), "≥ 0.5 x",
                w is null || n is null ? null : w.Rps >= 0.5 * n.Rps);
        }
        var w64 = r.Find("conc", "warren", 64);
        var s64 = r.Find("conc", "ssh", 64);
        Row("6 B, c64: req/s vs ssh -R", Inv($"{N0(w64?.Rps)} vs {N0(s64?.Rps)} = {Ratio(w64?.Rps, s64?.Rps)} x"), "ahead (> 1 x)",
            w64 is null || s64 is null ? null : w64.Rps > s64.Rps);
        Row("6 B, c64: CPU ms per 1,000 requests vs ssh -R (edge + agent vs ssh + sshd)",
            Inv($"{N1(w64?.CpuPer1000)} vs {N1(s64?.CpuPer1000)}"), "less",
            w64?.CpuPer1000 is { } wc && s64?.CpuPer1000 is { } sc ? wc < sc : null);
        Row("6 B, c64: peak RSS MB vs ssh -R", Inv($"{Mb(w64?.RssKb)} vs {Mb(s64?.RssKb)}"), "less",
            w64 is { RssKb: > 0 } && s64 is { RssKb: > 0 } ? w64.RssKb < s64.RssKb : null);

        var w1 = r.Find("conc", "warren", 1);
        var y1 = r.Find("conc", "yarp", 1);
        Row("c1: p50 latency, ms", Inv($"{N2(w1?.P50Ms)} vs YARP one-hop {N2(y1?.P50Ms)}"), "≤ YARP's + 0.1 ms",
            w1 is null || y1 is null ? null : w1.P50Ms <= y1.P50Ms + 0.1);

        var w256 = r.Find("conc", "warren", 256);
        var w1k = r.Find("conc", "warren", 1000);
        var y1k = r.Find("conc", "yarp", 1000);
        Row("c1000: req/s vs Warren's c256", Inv($"{N0(w1k?.Rps)} vs {N0(w256?.Rps)} = {Ratio(w1k?.Rps, w256?.Rps)} x"), "≥ 0.9 x",
            w1k is null || w256 is null ? null : w1k.Rps >= 0.9 * w256.Rps);
        Row("c1000: p99 latency vs YARP one-hop's", Inv($"{N1(w1k?.P99Ms)} vs {N1(y1k?.P99Ms)} ms = {Ratio(w1k?.P99Ms, y1k?.P99Ms)} x"), "≤ 2 x",
            w1k is null || y1k is null ? null : w1k.P99Ms <= 2 * y1k.P99Ms);
        Row("c1000: errors", Inv($"{N0(w1k?.Errors)} errors, {N0(w1k?.Timeouts)} timeouts"), "0",
            w1k is null ? null : w1k.Errors + w1k.Timeouts == 0);

        var wk = r.Find("64k", "warren", 64);
        var yk = r.Find("64k", "yarp", 64);
        Row("64 KiB at c64: MB/s vs YARP one-hop", Inv($"{N0(wk?.MBps)} vs {N0(yk?.MBps)} = {Ratio(wk?.MBps, yk?.MBps)} x"), "≥ 0.7 x",
            wk is null || yk is null ? null : wk.MBps >= 0.7 * yk.MBps);

        foreach (var dir in (string[])["download", "upload"])
        {
            var w = r.FindBulk(dir, "warren");
            var y = r.FindBulk(dir, "yarp");
            var size = Inv($"{(w ?? y)?.Bytes / 1e9:0.##} GB");
            Row($"one {size} {dir}, TLS agent link: MB/s vs YARP one-hop", Inv($"{N0(w?.MBps)} vs {N0(y?.MBps)} = {Ratio(w?.MBps, y?.MBps)} x"), "≥ 0.8 x",
                w is null || y is null ? null : w.Ok && w.MBps >= 0.8 * y.MBps);
            var bigMachine = r.Cores >= 16;
            rows.Add(new TargetRow($"one {size} {dir}: MB/s on 16 cores", w is null ? "-" : N0(w.MBps), "≥ 1,000",
                w is null ? NotMeasured : !bigMachine ? Inv($"checked on 16 cores (this run: {r.Cores})") : w.MBps >= 1000 ? Met : NotMet));
        }

        Row("CPU, edge + agent, ms per 1,000 requests at c64", N1(w64?.CpuPer1000), "≤ 50 on 2 cores",
            w64?.CpuPer1000 is { } cpu ? cpu <= 50 : null);
        if (r.Cores > 2 && rows[^1].Status != NotMeasured)
        {
            rows[^1] = rows[^1] with { Status = Inv($"checked on 2 cores (this run: {r.Cores})") };
        }
        var y64 = r.Find("conc", "yarp", 64);
        PairedRow("CPU per 1,000 requests at c64 vs YARP one-hop's",
            Inv($"{N1(w64?.CpuPer1000)} vs {N1(y64?.CpuPer1000)} ms = {Ratio(w64?.CpuPer1000, y64?.CpuPer1000)} x"), "≤ 1.5 x",
            PairRatios(r, 64, x => x.CpuPer1000), w64?.CpuPer1000 is { } a && y64?.CpuPer1000 is { } b ? a / b : null, ratio => ratio <= 1.5);

        var pw = r.FindPg("warren", 8);
        var ph = r.FindPg("haproxy", 8);
        Row("pgbench -S -c8 through a TCP service: tps vs HAProxy one-hop", Inv($"{N0(pw?.Tps)} vs {N0(ph?.Tps)} = {Ratio(pw?.Tps, ph?.Tps)} x"), "≥ 0.8 x",
            pw is null || ph is null ? null : pw.Tps >= 0.8 * ph.Tps && pw.Failed == 0);

        var start = r.Snapshot("start");
        var after = r.Snapshot("after_idle");
        Row("RSS after start: edge, MB", Mb(start?.Kb("edge")), "≤ 60", start is null ? null : start.Kb("edge") / 1024 <= 60);
        Row("RSS after start: agent, MB", Mb(start?.Kb("agent")), "≤ 30", start is null ? null : start.Kb("agent") / 1024 <= 30);
        Row("RSS at the c1000 peak: edge + agent, MB", Mb(w1k?.RssKb), "≤ 200", w1k is { RssKb: > 0 } ? w1k.RssKb / 1024 <= 200 : null);
        var startKb = start is null ? 0 : start.Kb("edge") + start.Kb("agent");
        var afterKb = after is null ? 0 : after.Kb("edge") + after.Kb("agent");
        var window = after is null ? "" : after.Seconds >= 60 ? "" : Inv($" (after {after.Seconds:F0} s, not 60)");
        Row(Inv($"RSS 60 s after the load ends vs after start, edge + agent{window}"),
            Inv($"{Mb(afterKb)} vs {Mb(startKb)} MB = {Ratio(afterKb, startKb)} x"), "≤ 1.25 x",
            startKb > 0 && afterKb > 0 ? afterKb <= 1.25 * startKb : null);

        if (r.WebSockets is { } ws)
        {
            var perK = WsPer1000Mb(ws);
            Row(Inv($"{I(ws, "count")} WebSockets: MB per 1,000, edge + agent"),
                Inv($"{N1(perK)} ({I(ws, "opened")} open, {I(ws, "echo_errors")} echo errors)"), "≤ 20, all open, no errors",
                perK <= 20 && I(ws, "opened") == I(ws, "count") && I(ws, "echo_errors") == 0);
        }
        else
        {
            Row("2,000 WebSockets: MB per 1,000, edge + agent", "", "≤ 20", null);
        }

        var s57 = r.Services.LastOrDefault(s => s.Count == 57);
        // The settled window when the run has one (an idle box's steady cost); the first minute after start beside it.
        var idle = r.IdleSettled ?? s57;
        var first = r.IdleSettled is null || s57 is null ? "" : Inv($" (first minute after start: {N2(s57.IdleCpuPercent)})");
        var when = r.IdleSettled is { } settled ? Inv($", {settled.SettledSeconds / 60:F0} min after start") : "";
        Row("57 services, idle: CPU, edge + agent, % of a core", Inv($"{N2(idle?.IdleCpuPercent)} over {N0(idle?.IdleSeconds)} s{when}{first}"), "< 0.3",
            idle is null ? null : idle.IdleCpuPercent < 0.3);
        Row("57 services, idle: RSS, edge + agent, MB", Mb(s57?.RssKb), "< 100", s57 is null ? null : s57.RssKb / 1024 < 100);

        rows.Add(new TargetRow("allocations: per DATA frame; per proxied request on the tunnel path",
            "see [Microbenchmarks](#microbenchmarks) (BenchmarkDotNet, `[MemoryDiagnoser]`)", "0 B; ≤ 1 KB", "not measured by this run"));
        return rows;
    }

    /// <summary>
    /// Warren's figure over the YARP hop's in each alternated pair at <paramref name="conns"/> (bench/run.sh's phases
    /// pair1, pair2, ...: one run of each, back to back), in pair order; empty when the run has none.
    /// </summary>
    public static List<double> PairRatios(BenchResults r, int conns, Func<WrkRun, double?> figure)
    {
        var ratios = new List<double>();
        for (var i = 1; r.Find(PairPhase(i), "warren", conns) is { } w && r.Find(PairPhase(i), "yarp", conns) is { } y; i++)
        {
            if (figure(w) is > 0 and { } a && figure(y) is > 0 and { } b)
            {
                ratios.Add(a / b);
            }
        }
        return ratios;
    }

    public static string PairPhase(int i) => Inv($"pair{i}");

    public static double Median<T>(IReadOnlyCollection<T> runs, Func<T, double> value)
    {
        var sorted = runs.Select(value).Order().ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
    }

    private static string PairsText(List<double> ratios) =>
        Inv($"median of {ratios.Count} alternated pairs {Median(ratios, x => x):F2} x ({string.Join(", ", ratios.Select(x => x.ToString("F2", CultureInfo.InvariantCulture)))})");

    /// <summary>Issue 5's checks that issue 11 did not replace.</summary>
    public static List<TargetRow> Issue5(BenchResults r)
    {
        var rows = new List<TargetRow>();
        var s57 = r.Services.LastOrDefault(s => s.Count == 57);
        rows.Add(new TargetRow("57 services: all routable after the agent starts", s57 is null ? "-" : s57.RoutableMs < 0 ? "not within 60 s" : Inv($"{s57.RoutableMs:F0} ms"),
            "< 1 s", s57 is null ? NotMeasured : s57.RoutableMs is >= 0 and < 1000 ? Met : NotMet));
        var (slope57, slope500, slopeTail) = ServiceSlopes(r);
        var has57 = r.Services.Any(s => s.Count == 1) && s57 is not null;
        rows.Add(new TargetRow("RSS per service, 1 to 57 services", has57 ? Inv($"{slope57:F0} KB") : "-", "< 100 KB",
            !has57 ? NotMeasured : slope57 < 100 ? Met : NotMet));
        var has500 = has57 && r.Services.Any(s => s.Count == 500);
        rows.Add(new TargetRow("RSS per service, 57 to 500 services (linear)", has500 ? Inv($"{slopeTail:F0} KB (1 to 500: {slope500:F0} KB)") : "-", "< 100 KB",
            !has500 ? NotMeasured : slopeTail < 100 && slope500 < 100 ? Met : NotMet));
        return rows;
    }

    public static (double Slope57, double Slope500, double SlopeTail) ServiceSlopes(BenchResults r)
    {
        double Rss(int n) => r.Services.LastOrDefault(s => s.Count == n)?.RssKb ?? double.NaN;
        return ((Rss(57) - Rss(1)) / 56, (Rss(500) - Rss(1)) / 499, (Rss(500) - Rss(57)) / 443);
    }

    public static double WsPer1000Mb(JsonElement ws)
    {
        var opened = I(ws, "opened");
        return opened == 0 ? double.NaN : (Sum(ws, "rss_peak_kb") - Sum(ws, "rss_before_kb")) / 1024 / opened * 1000;
    }

    public static long I(JsonElement e, string name) => e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetInt64() : 0;

    public static double D(JsonElement e, string name) => e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetDouble() : 0;

    public static double Sum(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Array ? v.EnumerateArray().Sum(x => x.GetDouble()) : 0;

    public static double Arr(JsonElement e, string name, int index) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Array && v.GetArrayLength() > index ? v[index].GetDouble() : 0;
}
