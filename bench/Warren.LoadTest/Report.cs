using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;

namespace Warren.LoadTest;

/// <summary>Turns the results file into the table on stdout, the End-to-end section of docs/benchmarks.md and the chart.</summary>
internal static class Report
{
    private const string SectionHeading = "## End-to-end";

    public static int Run(Args args)
    {
        var results = BenchResults.Load(args.Required("results"));
        var levels = args.Get("levels", "1,10,50,64,100,1000").Split(',').Select(l => int.Parse(l, CultureInfo.InvariantCulture)).ToArray();
        var section = Section(results, levels, args);
        Console.WriteLine(section);

        var svgPath = args.Get("svg", "");
        if (svgPath.Length > 0)
        {
            File.WriteAllText(svgPath, Chart.Render(results, levels, "Warren vs nginx one-hop vs direct: 6-byte body, wrk, loopback, " + Environment.ProcessorCount + " cores"));
        }
        var docPath = args.Get("doc", "");
        if (docPath.Length > 0)
        {
            File.WriteAllText(docPath, ReplaceSection(File.Exists(docPath) ? File.ReadAllText(docPath) : "# Benchmarks\n", section));
        }
        return 0;
    }

    /// <summary>Replaces "## End-to-end" up to the next "## " heading (or the end), or appends it; other sections are kept.</summary>
    internal static string ReplaceSection(string doc, string section)
    {
        var lines = doc.Replace("\r\n", "\n", StringComparison.Ordinal).Split('\n').ToList();
        var start = lines.FindIndex(l => l.TrimEnd() == SectionHeading);
        var body = section.TrimEnd('\n').Split('\n');
        if (start < 0)
        {
            while (lines.Count > 0 && lines[^1].Length == 0)
            {
                lines.RemoveAt(lines.Count - 1);
            }
            lines.Add("");
            lines.AddRange(body);
            lines.Add("");
            return string.Join('\n', lines);
        }
        var end = lines.FindIndex(start + 1, l => l.StartsWith("## ", StringComparison.Ordinal));
        var replacement = body.Append("").ToList();
        if (end < 0)
        {
            lines.RemoveRange(start, lines.Count - start);
            lines.AddRange(replacement);
        }
        else
        {
            lines.RemoveRange(start, end - start);
            lines.InsertRange(start, replacement);
        }
        return string.Join('\n', lines).TrimEnd('\n') + "\n";
    }

    private static string Section(BenchResults r, int[] levels, Args args)
    {
        var md = new StringBuilder();
        void L(FormattableString s) => md.Append(s.ToString(CultureInfo.InvariantCulture)).Append('\n');

        L($"{SectionHeading}");
        L($"");
        L($"Produced by `{args.Get("command", "bash bench/run.sh")}` on {args.Get("date", DateTime.UtcNow.ToString("yyyy-MM-dd HH:mm 'UTC'", CultureInfo.InvariantCulture))}.");
        L($"Machine: {Environment.ProcessorCount} cores ({Proc.CpuModel()}), {Proc.MemoryGiB():F1} GiB memory, {RuntimeInformation.OSDescription}, .NET {Environment.Version}.");
        L($"Everything runs on this machine over loopback, load generator included, so compare the ratios measured in the same run rather than");
        L($"absolute figures. {args.Get("setup", "")}");
        L($"");

        var targets = Targets(r, args);
        L($"### Targets (issue 5)");
        L($"");
        L($"| target | measured | |");
        L($"| --- | --- | --- |");
        foreach (var (name, figure, met) in targets)
        {
            L($"| {name} | {figure} | {(met is null ? "not measured" : met.Value ? "met" : "**missed**")} |");
        }
        L($"");

        L($"### Concurrency: 6-byte body, one agent session");
        L($"");
        L($"wrk, 2 threads (1 at 1 connection), default 2 s timeout. Errors are connect + read + write + non-2xx; timeouts are wrk's.");
        L($"");
        L($"| connections | target | req/s | p50 ms | p99 ms | errors | timeouts | Warren / this |");
        L($"| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |");
        foreach (var c in levels)
        {
            var warren = r.Find("conc", "warren", c);
            foreach (var t in (string[])["direct", "nginx", "warren"])
            {
                if (r.Find("conc", t, c) is { } run)
                {
                    var ratio = t == "warren" || warren is null || run.Rps == 0 ? "" : (warren.Rps / run.Rps).ToString("F2", CultureInfo.InvariantCulture);
                    L($"| {c} | {Label(t)} | {run.Rps:F0} | {run.P50Ms:F2} | {run.P99Ms:F2} | {run.Errors:F0} | {run.Timeouts:F0} | {ratio} |");
                }
            }
        }
        L($"");
        var checks = ((string[])["direct", "nginx", "warren"]).Select(t => r.Find("conc", t, 1)).OfType<WrkRun>().Where(x => x.Rps > 0)
            .Select(x => Inv($"{Label(x.Target)} mean {x.MeanMs:F3} ms vs 1 / req/s = {1000 / x.Rps:F3} ms")).ToList();
        if (checks.Count > 0)
        {
            L($"Latency sanity check at 1 connection (one request in flight, so wrk's mean latency can not exceed 1 / req/s): {string.Join("; ", checks)}.");
            L($"A mean above 1 / req/s means wrk's latency figures are suspect for that target; req/s is counted independently.");
            L($"");
        }
        L($"![req/s and p99 against concurrency](benchmarks-concurrency.svg)");
        L($"");

        L($"### Bodies");
        L($"");
        L($"| what | direct | nginx one-hop | Warren | Warren / nginx | Warren / direct |");
        L($"| --- | ---: | ---: | ---: | ---: | ---: |");
        var d64 = r.Find("64k", "direct", 64);
        var n64 = r.Find("64k", "nginx", 64);
        var w64 = r.Find("64k", "warren", 64);
        L($"| 64 KiB responses, 64 connections, MB/s | {d64?.MBps:F0} | {n64?.MBps:F0} | {w64?.MBps:F0} | {Ratio(w64?.MBps, n64?.MBps)} | {Ratio(w64?.MBps, d64?.MBps)} |");
        L($"| 64 KiB responses, 64 connections, req/s (p99 ms) | {d64?.Rps:F0} ({d64?.P99Ms:F1}) | {n64?.Rps:F0} ({n64?.P99Ms:F1}) | {w64?.Rps:F0} ({w64?.P99Ms:F1}) | | |");
        foreach (var dir in (string[])["download", "upload"])
        {
            var d = r.Bulks.LastOrDefault(b => b.Direction == dir && b.Target == "direct");
            var w = r.Bulks.LastOrDefault(b => b.Direction == dir && b.Target == "warren");
            var size = (d ?? w)?.Bytes / 1e9 ?? 0;
            L($"| one {size:0.##} GB {dir} (curl), MB/s | {d?.MBps:F0} | | {w?.MBps:F0} | | {Ratio(w?.MBps, d?.MBps)} |");
        }
        L($"");

        L($"### Cost of the Warren processes under load");
        L($"");
        L($"CPU is utime + stime from /proc/PID/stat over the whole wrk run; RSS is the peak VmRSS sampled every 0.2 s during it.");
        L($"");
        L($"| load | requests | CPU ms / 1,000 req (edge + agent) | edge RSS MB | agent RSS MB | edge + agent MB |");
        L($"| --- | ---: | ---: | ---: | ---: | ---: |");
        foreach (var run in r.Wrk.Where(w => w.Target == "warren" && (w.Conns == 64 || w.Conns == 1000)))
        {
            L($"| {(run.Phase == "64k" ? "64 KiB" : "6 B")}, {run.Conns} connections | {run.Requests:F0} | {CpuPer1000(run):F1} ({run.CpuEdgeMs / run.Requests * 1000:F1} + {run.CpuAgentMs / run.Requests * 1000:F1}) | {run.RssEdgeKb / 1024:F1} | {run.RssAgentKb / 1024:F1} | {(run.RssEdgeKb + run.RssAgentKb) / 1024:F1} |");
        }
        L($"");

        L($"### Services: one agent publishing N HTTP services (fresh edge and agent for each N)");
        L($"");
        L($"| services | all routable after | idle CPU, % of a core (edge + agent) | over | edge RSS MB | agent RSS MB | edge + agent MB |");
        L($"| ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        foreach (var s in r.Services)
        {
            L($"| {s.Count} | {(s.RoutableMs < 0 ? "not within the timeout" : Inv($"{s.RoutableMs:F0} ms"))} | {s.IdleCpuPercent:F2} ({s.CpuEdgeMs / s.IdleSeconds / 10:F2} + {s.CpuAgentMs / s.IdleSeconds / 10:F2}) | {s.IdleSeconds:F0} s | {s.RssEdgeKb / 1024:F1} | {s.RssAgentKb / 1024:F1} | {s.RssKb / 1024:F1} |");
        }
        var (slope57, slope500, slopeTail) = ServiceSlopes(r);
        L($"");
        L($"Cost per service (edge + agent RSS): {slope57:F0} KB from 1 to 57 services, {slope500:F0} KB from 1 to 500, {slopeTail:F0} KB from 57 to 500 (linear when these agree; RSS includes GC heap growth, so small differences are noise).");
        L($"");

        L($"### WebSockets through one session");
        L($"");
        if (r.WebSockets is { } ws)
        {
            var perK = WsPer1000Mb(ws);
            L($"{I(ws, "opened")} of {I(ws, "count")} WebSockets opened ({I(ws, "open_failed")} failed) in {D(ws, "open_seconds"):F1} s, each echoing 32 bytes every {D(ws, "interval_s"):F0} s for {D(ws, "duration_s"):F0} s: {I(ws, "echoes")} echoes, {I(ws, "echo_errors")} errors, echo p50 {D(ws, "p50_ms"):F2} ms, p99 {D(ws, "p99_ms"):F2} ms, max {D(ws, "max_ms"):F1} ms.");
            L($"Edge + agent RSS {Sum(ws, "rss_before_kb") / 1024:F1} MB before, {Sum(ws, "rss_peak_kb") / 1024:F1} MB at the peak while open (edge {Arr(ws, "rss_peak_kb", 0) / 1024:F1}, agent {Arr(ws, "rss_peak_kb", 1) / 1024:F1}): **{perK:F1} MB per 1,000 connections**.");
            if (ws.TryGetProperty("first_error", out var fe) && fe.ValueKind == JsonValueKind.String)
            {
                L($"First error seen: `{fe.GetString()}`.");
            }
        }
        else
        {
            L($"Not measured in this run.");
        }
        L($"");
        L($"Not measured yet: bytes allocated per proxied request (GC counters, issue 5 item 5); the microbenchmarks cover allocations on the hot path.");
        return md.ToString();
    }

    private static List<(string Name, string Figure, bool? Met)> Targets(BenchResults r, Args args)
    {
        var list = new List<(string, string, bool?)>();
        void T(string name, bool measured, FormattableString figure, bool met) =>
            list.Add((name, measured ? figure.ToString(CultureInfo.InvariantCulture) : "-", measured ? met : null));

        var w64 = r.Find("conc", "warren", 64);
        var n64 = r.Find("conc", "nginx", 64);
        var w1k = r.Find("conc", "warren", 1000);
        T("6 B, 64 conns: req/s >= 0.7 x nginx one-hop", w64 is not null && n64 is not null,
            $"{w64?.Rps:F0} vs {n64?.Rps:F0} req/s = {w64?.Rps / n64?.Rps:F2} x", w64?.Rps >= 0.7 * n64?.Rps);
        T("6 B, 64 conns: p99 <= 10 ms", w64 is not null, $"{w64?.P99Ms:F2} ms", w64?.P99Ms <= 10);
        T("6 B, 64 conns: 0 errors", w64 is not null, $"{w64?.Errors:F0} errors, {w64?.Timeouts:F0} timeouts", w64?.Errors + w64?.Timeouts == 0);
        T("1,000 conns: 0 errors, 0 timeouts", w1k is not null, $"{w1k?.Errors:F0} errors, {w1k?.Timeouts:F0} timeouts", w1k?.Errors + w1k?.Timeouts == 0);
        T("1,000 conns: req/s >= 0.9 x the 64-conn figure", w1k is not null && w64 is not null,
            $"{w1k?.Rps:F0} vs {w64?.Rps:F0} req/s = {w1k?.Rps / w64?.Rps:F2} x", w1k?.Rps >= 0.9 * w64?.Rps);
        var wk = r.Find("64k", "warren", 64);
        var nk = r.Find("64k", "nginx", 64);
        T("64 KiB, 64 conns: MB/s >= 0.6 x nginx one-hop", wk is not null && nk is not null,
            $"{wk?.MBps:F0} vs {nk?.MBps:F0} MB/s = {wk?.MBps / nk?.MBps:F2} x", wk?.MBps >= 0.6 * nk?.MBps);
        foreach (var dir in (string[])["download", "upload"])
        {
            var d = r.Bulks.LastOrDefault(b => b.Direction == dir && b.Target == "direct");
            var w = r.Bulks.LastOrDefault(b => b.Direction == dir && b.Target == "warren");
            T($"1 GB {dir}: >= 0.5 x direct", d is not null && w is not null,
                $"{w?.MBps:F0} vs {d?.MBps:F0} MB/s = {w?.MBps / d?.MBps:F2} x", w?.MBps >= 0.5 * d?.MBps);
        }
        var cost = r.Find("conc", "warren", 64);
        T("CPU <= 50 ms per 1,000 requests (edge + agent, 64 conns)", cost is { Requests: > 0 }, $"{(cost is null ? 0 : CpuPer1000(cost)):F1} ms", cost is not null && CpuPer1000(cost) <= 50);
        T("RSS edge + agent <= 60 MB under that load", cost is not null, $"{(cost?.RssEdgeKb + cost?.RssAgentKb) / 1024:F1} MB", (cost?.RssEdgeKb + cost?.RssAgentKb) / 1024 <= 60);
        var s57 = r.Services.LastOrDefault(s => s.Count == 57);
        T("57 services: all routable < 1 s after agent start", s57 is not null, $"{s57?.RoutableMs:F0} ms", s57?.RoutableMs is >= 0 and < 1000);
        T("57 services: idle CPU < 0.5% of a core (edge + agent)", s57 is not null, $"{s57?.IdleCpuPercent:F2} % over {s57?.IdleSeconds:F0} s", s57?.IdleCpuPercent < 0.5);
        T("57 services: edge + agent RSS < 150 MB (DESIGN.md)", s57 is not null, $"{s57?.RssKb / 1024:F1} MB", s57?.RssKb / 1024 < 150);
        var (slope57, slope500, slopeTail) = ServiceSlopes(r);
        var hasSlopes = r.Services.Any(s => s.Count == 1) && r.Services.Any(s => s.Count == 57);
        T("per-service RSS < 100 KB (1 to 57 services)", hasSlopes, $"{slope57:F0} KB", slope57 < 100);
        var has500 = hasSlopes && r.Services.Any(s => s.Count == 500);
        T("per-service RSS < 100 KB, linear up to 500 (57 to 500)", has500, $"{slopeTail:F0} KB (1 to 500: {slope500:F0} KB)", slopeTail < 100 && slope500 < 100);
        if (r.WebSockets is { } ws)
        {
            var perK = WsPer1000Mb(ws);
            T("2,000 WebSockets: all open, <= 20 MB per 1,000 (edge + agent)", true,
                $"{I(ws, "opened")} open, {perK:F1} MB per 1,000, echo p99 {D(ws, "p99_ms"):F1} ms", perK <= 20 && I(ws, "opened") == I(ws, "count") && I(ws, "echo_errors") == 0);
        }
        else
        {
            T("2,000 WebSockets: <= 20 MB per 1,000", false, $"", false);
        }
        _ = args;
        return list;
    }

    private static (double Slope57, double Slope500, double SlopeTail) ServiceSlopes(BenchResults r)
    {
        double Rss(int n) => r.Services.LastOrDefault(s => s.Count == n)?.RssKb ?? double.NaN;
        return ((Rss(57) - Rss(1)) / 56, (Rss(500) - Rss(1)) / 499, (Rss(500) - Rss(57)) / 443);
    }

    private static double CpuPer1000(WrkRun run) => run.Requests > 0 ? (run.CpuEdgeMs + run.CpuAgentMs) / run.Requests * 1000 : 0;

    private static double WsPer1000Mb(JsonElement ws)
    {
        var opened = I(ws, "opened");
        return opened == 0 ? double.NaN : (Sum(ws, "rss_peak_kb") - Sum(ws, "rss_before_kb")) / 1024 / opened * 1000;
    }

    private static string Label(string target) => target switch
    {
        "warren" => "**Warren**",
        "nginx" => "nginx one-hop",
        _ => "direct",
    };

    private static string Ratio(double? a, double? b) => a is > 0 && b is > 0 ? (a.Value / b.Value).ToString("F2", CultureInfo.InvariantCulture) : "";

    private static string Inv(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);

    private static long I(JsonElement e, string name) => e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetInt64() : 0;

    private static double D(JsonElement e, string name) => e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetDouble() : 0;

    private static double Sum(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Array ? v.EnumerateArray().Sum(x => x.GetDouble()) : 0;

    private static double Arr(JsonElement e, string name, int index) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Array && v.GetArrayLength() > index ? v[index].GetDouble() : 0;
}
