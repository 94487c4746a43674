using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using static Warren.LoadTest.Md;
using static Warren.LoadTest.Targets;

namespace Warren.LoadTest;

/// <summary>
/// Turns the results file into the "End-to-end (N cores)" section of docs/benchmarks.md (also printed) and the chart.
/// Each machine size has its own section, so a 16-core run sits beside the 2-core one; other sections are kept.
/// </summary>
internal static class Report
{
    private const string SectionPrefix = "## End-to-end";
    private static readonly string[] s_httpTargets = ["direct", "nginx", "yarp", "warren", "ssh"];

    public static int Run(Args args)
    {
        var results = BenchResults.Load(args.Required("results"));
        var levels = args.Get("levels", "1,10,50,64,100,256,1000").Split(',').Select(l => int.Parse(l, CultureInfo.InvariantCulture)).ToArray();
        var svgPath = args.Get("svg", "");
        var section = Section(results, levels, args, args.Get("svg-name", Path.GetFileName(svgPath)));
        Console.WriteLine(section);

        if (svgPath.Length > 0)
        {
            File.WriteAllText(svgPath, Chart.Render(results, levels,
                Inv($"Warren vs YARP and nginx one-hop vs direct: 6-byte body, wrk, loopback, {results.Cores} cores")));
        }
        var docPath = args.Get("doc", "");
        if (docPath.Length > 0)
        {
            var docIn = args.Get("doc-in", docPath);
            var doc = File.Exists(docIn) ? File.ReadAllText(docIn) : "# Benchmarks\n";
            File.WriteAllText(docPath, ReplaceSection(doc, Heading(results.Cores), section));
        }
        return 0;
    }

    internal static string Heading(int cores) => Inv($"{SectionPrefix} ({cores} cores)");

    /// <summary>
    /// Replaces the section under <paramref name="heading"/> (up to the next "## " heading or the end). A new one goes
    /// after the last "## End-to-end" section, or at the end when there is none.
    /// </summary>
    internal static string ReplaceSection(string doc, string heading, string section)
    {
        var lines = doc.Replace("\r\n", "\n", StringComparison.Ordinal).Split('\n').ToList();
        var body = section.TrimEnd('\n').Split('\n').Append("").ToList();
        int SectionEnd(int start)
        {
            var end = lines.FindIndex(start + 1, l => l.StartsWith("## ", StringComparison.Ordinal));
            return end < 0 ? lines.Count : end;
        }
        var at = lines.FindIndex(l => l.TrimEnd() == heading);
        if (at >= 0)
        {
            lines.RemoveRange(at, SectionEnd(at) - at);
            lines.InsertRange(at, body);
        }
        else
        {
            var last = lines.FindLastIndex(l => l.StartsWith(SectionPrefix, StringComparison.Ordinal));
            if (last >= 0)
            {
                lines.InsertRange(SectionEnd(last), body);
            }
            else
            {
                while (lines.Count > 0 && lines[^1].Length == 0)
                {
                    lines.RemoveAt(lines.Count - 1);
                }
                lines.Add("");
                lines.AddRange(body);
            }
        }
        return string.Join('\n', lines).TrimEnd('\n') + "\n";
    }

    private static string Section(BenchResults r, int[] levels, Args args, string svgName)
    {
        var md = new StringBuilder();
        void L(FormattableString s) => md.Append(s.ToString(CultureInfo.InvariantCulture)).Append('\n');
        var targets = s_httpTargets.Where(t => r.Wrk.Any(w => w.Target == t && w.Phase == "conc")).ToArray();

        L($"{Heading(r.Cores)}");
        L($"");
        L($"Produced by `{args.Get("command", "bash bench/run.sh")}` on {args.Get("date", DateTime.UtcNow.ToString("yyyy-MM-dd HH:mm 'UTC'", CultureInfo.InvariantCulture))}.");
        L($"Machine: {Environment.ProcessorCount} cores ({Proc.CpuModel()}), {Proc.MemoryGiB():F1} GiB memory, {RuntimeInformation.OSDescription}, .NET {Environment.Version}.");
        L($"Layout: {r.Layout}.");
        L($"Everything runs on this machine over loopback, load generators included, so read the ratios measured in the same run rather than");
        L($"absolute figures. {args.Get("setup", "")}");
        L($"");

        L($"### Targets (issue 11)");
        L($"");
        L($"| | measured (Warren vs baseline) | target | |");
        L($"| --- | --- | --- | --- |");
        foreach (var row in Issue11(r))
        {
            L($"| {row.Name} | {row.Measured} | {row.Target} | {row.Status} |");
        }
        L($"");
        L($"Earlier checks (issue 5) that still hold as aims:");
        L($"");
        L($"| | measured | aim | |");
        L($"| --- | --- | --- | --- |");
        foreach (var row in Issue5(r))
        {
            L($"| {row.Name} | {row.Measured} | {row.Target} | {row.Status} |");
        }
        L($"");

        Concurrency(r, levels, targets, L);
        L($"![req/s and p99 against concurrency]({svgName})");
        L($"");
        AlternatedPairs(r, L);
        Bodies(r, L);
        Tcp(r, L);
        Tunnels(r, L);
        Cost(r, L);
        Memory(r, L);
        Services(r, L);
        WebSockets(r, L);
        RequestLog(r, L);
        PolicyCost(r, L);
        L($"Allocations (bytes per DATA frame and per proxied request) are measured by the BenchmarkDotNet suite, not by this run: see");
        L($"[Microbenchmarks](#microbenchmarks).");
        return md.ToString();
    }

    private static void Concurrency(BenchResults r, int[] levels, string[] targets, Action<FormattableString> L)
    {
        L($"### Concurrency: 6-byte body");
        L($"");
        L($"wrk (threads: as many as the load generator's cores, at most one per connection), default 2 s timeout. ssh -R only where measured.");
        L($"Errors are connect + read + write + non-2xx, plus wrk's timeouts; a run with any is marked with its count in brackets.");
        L($"");
        var header = string.Join(" | ", targets.Select(Label));
        L($"| connections | {header} | Warren / YARP | Warren / nginx |");
        L($"| ---: |{string.Concat(targets.Select(_ => " ---: |"))} ---: | ---: |");
        foreach (var c in levels)
        {
            var cells = targets.Select(t => r.Find("conc", t, c) is { } run ? N0(run.Rps) + Errs(run) : "");
            var w = r.Find("conc", "warren", c);
            L($"| {c} | {string.Join(" | ", cells)} | {Ratio(w?.Rps, r.Find("conc", "yarp", c)?.Rps)} | {Ratio(w?.Rps, r.Find("conc", "nginx", c)?.Rps)} |");
        }
        L($"");
        L($"Latency, p50 / p99 ms:");
        L($"");
        L($"| connections | {header} |");
        L($"| ---: |{string.Concat(targets.Select(_ => " ---: |"))}");
        foreach (var c in levels)
        {
            var cells = targets.Select(t => r.Find("conc", t, c) is { } run ? Inv($"{run.P50Ms:F2} / {run.P99Ms:F2}") : "");
            L($"| {c} | {string.Join(" | ", cells)} |");
        }
        L($"");
        var checks = targets.Select(t => r.Find("conc", t, 1)).OfType<WrkRun>().Where(x => x.Rps > 0)
            .Select(x => Inv($"{Label(x.Target)} {x.MeanMs:F3} vs {1000 / x.Rps:F3} ms")).ToList();
        if (checks.Count > 0)
        {
            L($"Sanity check at 1 connection (one request in flight, so wrk's mean latency cannot exceed 1 / req/s; above it, wrk's latency figures are suspect):");
            L($"{string.Join("; ", checks)}.");
            L($"");
        }
    }

    private static void AlternatedPairs(BenchResults r, Action<FormattableString> L)
    {
        var levels = r.Wrk.Where(w => w.Phase.StartsWith("pair", StringComparison.Ordinal)).Select(w => w.Conns).Distinct().Order().ToArray();
        if (levels.Length == 0)
        {
            return;
        }
        L($"### Alternated pairs: Warren and the YARP one-hop, 6-byte body");
        L($"");
        L($"Each pair is one Warren run and one YARP one-hop run back to back, the order swapped from one pair to the next. This machine's");
        L($"pace drifts over tens of minutes, so a ratio of two runs taken together is the steadier reading; the 6 B targets against the YARP");
        L($"hop are the median of these ratios (the concurrency table's single pair is shown beside it).");
        L($"");
        L($"| connections | pair | **Warren** req/s | YARP one-hop req/s | Warren / YARP | CPU ms per 1,000: **Warren** | YARP one-hop | Warren / YARP |");
        L($"| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        foreach (var c in levels)
        {
            for (var i = 1; r.Find(PairPhase(i), "warren", c) is { } w && r.Find(PairPhase(i), "yarp", c) is { } y; i++)
            {
                L($"| {c} | {i} | {N0(w.Rps)}{Errs(w)} | {N0(y.Rps)}{Errs(y)} | {Ratio(w.Rps, y.Rps)} | {N1(w.CpuPer1000)} | {N1(y.CpuPer1000)} | {Ratio(w.CpuPer1000, y.CpuPer1000)} |");
            }
            var rps = PairRatios(r, c, x => x.Rps);
            var cpu = PairRatios(r, c, x => x.CpuPer1000);
            L($"| {c} | median | | | {(rps.Count > 0 ? N2(Median(rps, x => x)) : "")} | | | {(cpu.Count > 0 ? N2(Median(cpu, x => x)) : "")} |");
        }
        L($"");
    }

    private static string Errs(WrkRun run) => run.Errors + run.Timeouts > 0 ? Inv($" [{run.Errors + run.Timeouts:F0}]") : "";

    private static void Bodies(BenchResults r, Action<FormattableString> L)
    {
        L($"### Bodies");
        L($"");
        L($"| | direct | nginx one-hop | YARP one-hop | **Warren** | Warren / YARP | Warren / nginx | Warren / direct |");
        L($"| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        string[] t = ["direct", "nginx", "yarp", "warren"];
        var k = t.Select(x => r.Find("64k", x, 64)).ToArray();
        L($"| 64 KiB responses, c64, MB/s | {N0(k[0]?.MBps)} | {N0(k[1]?.MBps)} | {N0(k[2]?.MBps)} | {N0(k[3]?.MBps)} | {Ratio(k[3]?.MBps, k[2]?.MBps)} | {Ratio(k[3]?.MBps, k[1]?.MBps)} | {Ratio(k[3]?.MBps, k[0]?.MBps)} |");
        L($"| 64 KiB responses, c64, req/s (p99 ms) | {string.Join(" | ", k.Select(x => x is null ? "" : Inv($"{x.Rps:F0} ({x.P99Ms:F1})") + Errs(x)))} | | | |");
        foreach (var dir in (string[])["download", "upload"])
        {
            var b = t.Select(x => r.FindBulk(dir, x)).ToArray();
            var size = b.FirstOrDefault(x => x is { Bytes: > 0 })?.Bytes / 1e9 ?? 0;
            var cells = b.Select(x => x is null ? "" : x.Ok ? N0(x.MBps) : Inv($"failed (HTTP {x.Status})"));
            L($"| one {size:0.##} GB {dir} (curl), MB/s | {string.Join(" | ", cells)} | {Ratio(b[3]?.MBps, b[2]?.MBps)} | {Ratio(b[3]?.MBps, b[1]?.MBps)} | {Ratio(b[3]?.MBps, b[0]?.MBps)} |");
        }
        L($"");
    }

    private static void Tcp(BenchResults r, Action<FormattableString> L)
    {
        if (!Subsection(L, $"TCP: pgbench -S through a Warren TCP service", r.PgBenches.Count > 0, " (PostgreSQL or pgbench missing)"))
        {
            return;
        }
        L($"PostgreSQL on loopback (`pgbench -i -s 1`), `pgbench -S -n` (select only; latency average is one round trip at -c1).");
        L($"");
        L($"| pgbench -S | direct | HAProxy one-hop (TCP mode) | **Warren** TCP service | Warren / HAProxy | Warren / direct |");
        L($"| --- | ---: | ---: | ---: | ---: | ---: |");
        foreach (var c in r.PgBenches.Select(p => p.Clients).Distinct())
        {
            var p = ((string[])["direct", "haproxy", "warren"]).Select(t => r.FindPg(t, c)).ToArray();
            var cells = p.Select(x => x is null ? "" : Inv($"{x.Tps:F0} tps ({x.LatencyMs:F3} ms)") + (x.Failed > 0 ? Inv($" [{x.Failed:F0} failed]") : ""));
            L($"| -c{c} | {string.Join(" | ", cells)} | {Ratio(p[2]?.Tps, p[1]?.Tps)} | {Ratio(p[2]?.Tps, p[0]?.Tps)} |");
            L($"| -c{c}, CPU ms per 1,000 transactions | | {N1(p[1]?.CpuPer1000)} | {N1(p[2]?.CpuPer1000)} | {Ratio(p[2]?.CpuPer1000, p[1]?.CpuPer1000)} | |");
        }
        L($"");
    }

    /// <summary>
    /// ssh -R is a TCP tunnel: it carries the HTTP bytes without reading them. Beside it, the same requests through a
    /// Warren TCP service (an L4 tunnel too) and through Warren's HTTP service (the edge parses each request, routes,
    /// counts and logs it), on the same edge and agent.
    /// </summary>
    private static void Tunnels(BenchResults r, Action<FormattableString> L)
    {
        var levels = r.Wrk.Where(w => w.Phase == "conc" && w.Target == "warren-tcp").Select(w => w.Conns).Order().ToArray();
        if (levels.Length == 0)
        {
            return;
        }
        L($"### Tunnels like for like: ssh -R and a Warren TCP service (6-byte body)");
        L($"");
        L($"ssh -R forwards bytes; so does a Warren TCP service (`webtcp` on the same edge and agent, to the same nginx). The HTTP service");
        L($"does more per request (Kestrel, YARP, routing by host, metrics, the access and request logs), which is what the targets measure.");
        L($"");
        L($"| connections | | ssh -R (ssh + sshd) | Warren TCP service | **Warren** HTTP service | TCP service / ssh -R |");
        L($"| ---: | --- | ---: | ---: | ---: | ---: |");
        foreach (var c in levels)
        {
            var s = r.Find("conc", "ssh", c);
            var t = r.Find("conc", "warren-tcp", c);
            var h = r.Find("conc", "warren", c);
            L($"| {c} | req/s | {N0(s?.Rps)}{(s is null ? "" : Errs(s))} | {N0(t?.Rps)}{(t is null ? "" : Errs(t))} | {N0(h?.Rps)}{(h is null ? "" : Errs(h))} | {Ratio(t?.Rps, s?.Rps)} |");
            L($"| {c} | p50 ms | {N2(s?.P50Ms)} | {N2(t?.P50Ms)} | {N2(h?.P50Ms)} | {Ratio(t?.P50Ms, s?.P50Ms)} |");
            L($"| {c} | CPU ms per 1,000 requests | {N1(s?.CpuPer1000)} | {N1(t?.CpuPer1000)} | {N1(h?.CpuPer1000)} | {Ratio(t?.CpuPer1000, s?.CpuPer1000)} |");
            L($"| {c} | peak RSS MB | {Mb(s?.RssKb)} | {Mb(t?.RssKb)} | {Mb(h?.RssKb)} | {Ratio(t?.RssKb, s?.RssKb)} |");
        }
        L($"");
    }

    private static void Cost(BenchResults r, Action<FormattableString> L)
    {
        L($"### Cost of each proxy under load");
        L($"");
        L($"CPU is utime + stime from /proc/PID/stat over the whole run, per 1,000 requests; RSS is the peak summed VmRSS, sampled every");
        L($"0.2 s during it. Warren is edge + agent, nginx its master and workers, ssh -R the client plus sshd's processes.");
        L($"");
        L($"| load | nginx one-hop | YARP one-hop | **Warren** (edge + agent) | ssh -R (ssh + sshd) |");
        L($"| --- | ---: | ---: | ---: | ---: |");
        (string Phase, int Conns, string Name)[] loads = [("conc", 64, "6 B, c64"), ("conc", 1000, "6 B, c1000"), ("64k", 64, "64 KiB, c64")];
        void Rows(string what, Func<WrkRun, string> warren, Func<WrkRun, string> other)
        {
            foreach (var (phase, conns, name) in loads)
            {
                var cells = ((string[])["nginx", "yarp", "warren", "ssh"]).Select(t => r.Find(phase, t, conns) switch
                {
                    null => "",
                    { Target: "warren" } w => warren(w),
                    var x => other(x),
                });
                L($"| {name}: {what} | {string.Join(" | ", cells)} |");
            }
        }
        Rows("CPU ms per 1,000 requests", w => Inv($"{N1(w.CpuPer1000)} ({N1(w.CpuPer1000Of("edge"))} + {N1(w.CpuPer1000Of("agent"))})"), x => N1(x.CpuPer1000));
        Rows("peak RSS MB", w => Inv($"{Mb(w.RssKb)} ({Mb(w.Procs.GetValueOrDefault("edge")?.RssKb)} + {Mb(w.Procs.GetValueOrDefault("agent")?.RssKb)})"), x => Mb(x.RssKb));
        L($"");
    }

    private static void Memory(BenchResults r, Action<FormattableString> L)
    {
        if (!Subsection(L, $"Memory over the run (the load runs' processes)", r.Snapshots.Count > 0, ""))
        {
            return;
        }
        L($"VmRSS in MB: after start (routes up, 3 s settled, before any load), at the c1000 peak, when the last load ends, and after the");
        L($"processes sat idle.");
        L($"");
        L($"| when | edge | agent | edge + agent | YARP one-hop | nginx one-hop | ssh -R (ssh + sshd) |");
        L($"| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
        void Row(string when, Func<string, double> kb) =>
            L($"| {when} | {Mb(kb("edge"))} | {Mb(kb("agent"))} | {Mb(kb("edge") + kb("agent"))} | {Mb(kb("yarp"))} | {Mb(kb("nginx"))} | {Mb(kb("ssh") + kb("sshd"))} |");
        if (r.Snapshot("start") is { } start)
        {
            Row("after start", start.Kb);
        }
        string[] peakTargets = ["warren", "yarp", "nginx", "ssh"];
        var peaks = peakTargets.Select(t => r.Find("conc", t, 1000)).OfType<WrkRun>().SelectMany(w => w.Procs)
            .ToDictionary(p => p.Key, p => p.Value.RssKb, StringComparer.Ordinal);
        if (peaks.Count > 0)
        {
            Row("peak during c1000", name => peaks.GetValueOrDefault(name));
        }
        if (r.Snapshot("load_end") is { } end)
        {
            Row("when the load ends", end.Kb);
        }
        if (r.Snapshot("after_idle") is { } after)
        {
            Row(Inv($"{after.Seconds:F0} s later"), after.Kb);
            var cpu = after.CpuMs.GetValueOrDefault("edge") + after.CpuMs.GetValueOrDefault("agent");
            L($"");
            L($"CPU while idle in those {after.Seconds:F0} s, edge + agent: {cpu / (after.Seconds * 1000) * 100:F2} % of a core.");
        }
        L($"");
    }

    private static void Services(BenchResults r, Action<FormattableString> L)
    {
        L($"### Services: one agent publishing N HTTP services (fresh edge and agent for each N)");
        L($"");
        L($"| services | all routable after | idle CPU, % of a core (edge + agent) | over | edge RSS MB | agent RSS MB | edge + agent MB |");
        L($"| ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        foreach (var s in r.Services)
        {
            L($"| {s.Count} | {(s.RoutableMs < 0 ? "not within the timeout" : Inv($"{s.RoutableMs:F0} ms"))} | {s.IdleCpuPercent:F2} ({s.CpuEdgeMs / s.IdleSeconds / 10:F2} + {s.CpuAgentMs / s.IdleSeconds / 10:F2}) | {s.IdleSeconds:F0} s | {Mb(s.RssEdgeKb)} | {Mb(s.RssAgentKb)} | {Mb(s.RssKb)} |");
        }
        if (r.IdleSettled is { } settled)
        {
            L($"");
            L($"Settled: a fresh edge and agent with {settled.Count} services, left alone {settled.SettledSeconds / 60:F0} min after start, then measured for {settled.IdleSeconds:F0} s: **{settled.IdleCpuPercent:F2} % of a core** ({settled.CpuEdgeMs / settled.IdleSeconds / 10:F2} + {settled.CpuAgentMs / settled.IdleSeconds / 10:F2}), {Mb(settled.RssEdgeKb)} + {Mb(settled.RssAgentKb)} MB. The rows above start 3 s after the services are routable, while the tiered JIT still compiles what the timers call (docs/performance.md, \"Idle\").");
        }
        var (slope57, slope500, slopeTail) = ServiceSlopes(r);
        L($"");
        L($"Cost per service (edge + agent RSS): {N0(slope57)} KB from 1 to 57 services, {N0(slope500)} KB from 1 to 500, {N0(slopeTail)} KB from 57 to 500");
        L($"(linear when these agree; RSS includes GC heap growth, so small differences are noise; blank where not measured).");
        L($"");
    }

    private static void WebSockets(BenchResults r, Action<FormattableString> L)
    {
        if (Subsection(L, $"WebSockets through one session", r.WebSockets is not null, "") && r.WebSockets is { } ws)
        {
            var perK = WsPer1000Mb(ws);
            L($"{I(ws, "opened")} of {I(ws, "count")} WebSockets opened ({I(ws, "open_failed")} failed) in {D(ws, "open_seconds"):F1} s, each echoing 32 bytes every {D(ws, "interval_s"):F0} s for {D(ws, "duration_s"):F0} s: {I(ws, "echoes")} echoes, {I(ws, "echo_errors")} errors, echo p50 {D(ws, "p50_ms"):F2} ms, p99 {D(ws, "p99_ms"):F2} ms, max {D(ws, "max_ms"):F1} ms.");
            L($"Edge + agent RSS {Sum(ws, "rss_before_kb") / 1024:F1} MB before, {Sum(ws, "rss_peak_kb") / 1024:F1} MB at the peak while open (edge {Arr(ws, "rss_peak_kb", 0) / 1024:F1}, agent {Arr(ws, "rss_peak_kb", 1) / 1024:F1}): **{perK:F1} MB per 1,000 connections**.");
            if (ws.TryGetProperty("first_error", out var fe) && fe.ValueKind == JsonValueKind.String)
            {
                L($"First error seen: `{fe.GetString()}`.");
            }
            L($"");
        }
    }

    /// <summary>Issue 15: the request log (SQLite, on by default) may cost under 5 % of req/s.</summary>
    private static void RequestLog(BenchResults r, Action<FormattableString> L) =>
        AlternatedCost(r, L, "The request log's cost (6 B, c64, fresh edge and agent per run, on and off alternated: on-off, off-on, on-off)", "request_log",
            ("on (default)", "rlog-on"), ("off", "rlog-off"), "the request log");

    /// <summary>Issue 13: a request that passes a typical policy stack may cost under 5 % of req/s.</summary>
    private static void PolicyCost(BenchResults r, Action<FormattableString> L) =>
        AlternatedCost(r, L, "The policy step's cost (6 B, c64, one edge and agent publishing the backend with and without a policy, alternated, the policy moved to the other hostname halfway)", "policy",
            ("ip allow + rate_limit + api_keys", "policy-policy"), ("none", "policy-plain"), "a passing policy");

    /// <summary>
    /// The req/s of runs with a feature (<paramref name="with"/>) against runs without it (<paramref name="without"/>),
    /// alternated by bench/run.sh so that the n-th run of each is next to the other, and the feature's cost against its
    /// 5 % target: the median of those pairs' ratios, so a drift in speed across the phase (warm-up, another process)
    /// falls on both sides of every pair rather than on whichever side ran first.
    /// </summary>
    private static void AlternatedCost(BenchResults r, Action<FormattableString> L, string title, string column,
        (string Name, string Phase) with, (string Name, string Phase) without, string what)
    {
        var on = r.Wrk.Where(w => w.Phase == with.Phase).ToArray();
        var off = r.Wrk.Where(w => w.Phase == without.Phase).ToArray();
        if (!Subsection(L, $"{title}", on.Length > 0 && off.Length > 0, ""))
        {
            return;
        }
        L($"| {column} | runs, req/s | median req/s | CPU ms per 1,000 requests (edge + agent), median |");
        L($"| --- | --- | ---: | ---: |");
        foreach (var (name, runs) in new[] { (with.Name, on), (without.Name, off) })
        {
            L($"| {name} | {string.Join(", ", runs.Select(w => N0(w.Rps)))} | {N0(Median(runs, w => w.Rps))} | {Median(runs, CpuPerThousand):F1} |");
        }
        var pairs = on.Zip(off).ToArray();
        var rps = pairs.Select(p => p.First.Rps / p.Second.Rps).ToArray();
        var cost = 1 - Median(rps, x => x);
        var cpu = Median(pairs.Select(p => CpuPerThousand(p.First) / CpuPerThousand(p.Second)).ToArray(), x => x) - 1;
        L($"");
        L($"Pairs (with / without, in run order): {string.Join(", ", rps.Select(x => x.ToString("F3", CultureInfo.InvariantCulture)))}.");
        L($"Cost of {what}: **{cost * 100:F1} %** of req/s, the median pair (target: under 5 %; {(cost < 0.05 ? "met" : "not met")}); CPU per request {cpu * 100:+0.0;-0.0} %.");
        L($"");
    }

    private static double CpuPerThousand(WrkRun w) => w.Requests > 0 ? w.CpuMs / w.Requests * 1000 : 0;

    /// <summary>A "###" heading; when nothing was measured for it, a line saying so, and false.</summary>
    private static bool Subsection(Action<FormattableString> L, FormattableString title, bool measured, string why)
    {
        L($"### {title.ToString(CultureInfo.InvariantCulture)}");
        L($"");
        if (!measured)
        {
            L($"Not measured in this run{why}.");
            L($"");
        }
        return measured;
    }
}
