using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Warren.LoadTest;

namespace Warren.Soak;

/// <summary>An agent restart: from the signal until the agent serves again (plus a short settle).</summary>
internal sealed class RestartWindow(int number, string signal, DateTime start)
{
    public static readonly TimeSpan Settle = TimeSpan.FromSeconds(2);

    public int Number { get; } = number;
    public string Signal { get; } = signal;
    public DateTime Start { get; } = start;
    public TimeSpan ExitTook { get; set; }
    public DateTime? Ready { get; set; }
    public DateTime End(DateTime now) => Ready is { } ready ? ready + Settle : now;
}

/// <summary>Gauges and RSS at one moment.</summary>
internal sealed record Snapshot(string Label, TimeSpan At, long EdgeRssKb, long AgentRssKb, Scrape? Edge, Scrape? Agent);

/// <summary>The soak run: backends, edge, agent, traffic, restarts, snapshots, the baseline check and the report.</summary>
internal sealed class SoakRun(SoakOptions options)
{
    // The gauges that must come back to their value before traffic once traffic stops.
    private static readonly (string Side, string Metric)[] BaselineGauges =
    [
        ("edge", "warren_edge_session_streams_open"),
        ("edge", "warren_edge_inbound_buffered_bytes"),
        ("edge", "warren_service_active_streams"),
        ("agent", "warren_agent_session_streams_open"),
        ("agent", "warren_agent_inbound_buffered_bytes"),
        ("agent", "warren_agent_service_in_flight"),
        ("edge", "warren_edge_buffer_blocks_outstanding"),
        ("agent", "warren_agent_buffer_blocks_outstanding"),
    ];

    private readonly List<RestartWindow> _windows = [];
    private readonly Stopwatch _clock = new();
    private readonly HttpClient _admin = new() { Timeout = TimeSpan.FromSeconds(10) };
    private WarrenProcesses _warren = null!;
    private Traffic _traffic = null!;
    private string? _fatal;
    private DateTime _startedAt;

    public async Task<int> RunAsync()
    {
        Directory.CreateDirectory(options.Work);
        foreach (var stale in Directory.GetFiles(options.Work, "*.log"))
        {
            File.Delete(stale);
        }
        // Each probe releases its port before the next, so the same one can come back: draw until seven differ.
        var free = new HashSet<int>();
        while (free.Count < 7)
        {
            free.Add(Ports.Free());
        }
        var p = free.ToArray();
        var ports = new WarrenProcesses.PortSet(p[0], p[1], p[2], p[3], p[4], p[5], p[6]);
        await using var backends = await Backends.StartAsync(ports.BackendHttp, ports.BackendTcp);
        await using var warren = _warren = new WarrenProcesses(options.Warren, options.Work, ports);
        using var startup = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        await warren.StartEdgeAsync(startup.Token);
        await warren.StartAgentAsync(startup.Token);
        await WaitServingAsync(TimeSpan.FromSeconds(120));
        Log($"edge pid {warren.Edge!.Id}, agent pid {warren.Agent!.Id}; traffic for {options.Duration.TotalSeconds:0} s with {options.Workers} workers, " +
            (options.RestartEvery > TimeSpan.Zero ? $"agent restart every {options.RestartEvery.TotalSeconds:0} s" : "no restarts"));

        var baseline = await SnapshotAsync("start");
        _clock.Start();
        _startedAt = DateTime.UtcNow;
        using var traffic = _traffic = new Traffic(ports.EdgeHttp, ports.EdgeTcp, options.OpTimeout, options.Seed);
        using var stop = new CancellationTokenSource();
        var work = traffic.RunAsync(options.Workers, stop.Token);
        var restarts = RestartLoopAsync(stop.Token);
        var middle = await ProgressAsync(stop);
        await restarts;
        Log("traffic stopping: waiting for operations in flight to finish");
        await work;
        var end = await SnapshotAsync("end of traffic");
        traffic.Dispose(); // its pooled connections to the edge close too, as a departing client's would

        var (settled, settledAfter, last) = await SettleAsync(baseline);
        var report = Report(baseline, middle, end, last, settled, settledAfter);
        Console.WriteLine(report);
        Directory.CreateDirectory(Path.GetDirectoryName(options.Report)!);
        await File.WriteAllTextAsync(options.Report, report);
        Log($"report written to {options.Report}");
        return Unexpected().Count == 0 && settled && _fatal is null ? 0 : 1;
    }

    // ---------------------------------------------------------------- restarts

    private async Task RestartLoopAsync(CancellationToken stop)
    {
        if (options.RestartEvery <= TimeSpan.Zero)
        {
            return;
        }
        for (var n = 1; ; n++)
        {
            try
            {
                await Task.Delay(options.RestartEvery, stop);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            // SIGTERM first (graceful drain), then SIGKILL (a crash), in turn.
            var kill = n % 2 == 0;
            var window = new RestartWindow(n, kill ? "SIGKILL" : "SIGTERM", DateTime.UtcNow);
            lock (_windows)
            {
                _windows.Add(window);
            }
            try
            {
                window.ExitTook = await _warren.StopAgentAsync(kill, TimeSpan.FromSeconds(45));
                await _warren.StartAgentAsync(CancellationToken.None);
                await WaitServingAsync(TimeSpan.FromSeconds(60));
                window.Ready = DateTime.UtcNow;
                Log($"restart {n} ({window.Signal}): agent exited after {window.ExitTook.TotalSeconds:0.0} s, serving again {(window.Ready.Value - window.Start).TotalSeconds:0.0} s after the signal (pid {_warren.Agent!.Id})");
            }
            catch (Exception ex) when (ex is TimeoutException or InvalidOperationException)
            {
                _fatal = $"restart {n} ({window.Signal}) failed: {ex.Message}";
                window.Ready = DateTime.UtcNow;
                Log(_fatal);
                return;
            }
        }
    }

    /// <summary>Until the agent says ready and the edge routes both services to it (probes are not counted as traffic).</summary>
    private async Task WaitServingAsync(TimeSpan timeout)
    {
        var p = _warren.Ports;
        using var probe = new HttpClient(Loopback.Handler(p.EdgeHttp, 0)) { Timeout = TimeSpan.FromSeconds(5) };
        var clock = Stopwatch.StartNew();
        while (true)
        {
            if (_warren.Edge!.HasExited)
            {
                throw new InvalidOperationException($"the edge exited ({_warren.Edge.ExitCode}); see {options.Work}/edge.log");
            }
            if (await ProbeAsync(() => _admin.GetAsync(new Uri($"http://127.0.0.1:{p.AgentAdmin}/readyz")))
                && await ProbeAsync(() => probe.GetAsync(new Uri($"http://web.soak:{p.EdgeHttp}/bytes/1/1")))
                && await TcpProbeAsync(p.EdgeTcp))
            {
                return;
            }
            if (clock.Elapsed > timeout)
            {
                throw new TimeoutException($"the agent did not serve within {timeout.TotalSeconds:0} s of starting; see {options.Work}/agent-*.log");
            }
            await Task.Delay(100);
        }
    }

    private static async Task<bool> ProbeAsync(Func<Task<HttpResponseMessage>> request)
    {
        try
        {
            using var response = await request();
            return response.StatusCode == HttpStatusCode.OK;
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
        {
            return false;
        }
    }

    private static async Task<bool> TcpProbeAsync(int port)
    {
        try
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port), cts.Token);
            await socket.SendAsync(new byte[] { 42 }, cts.Token);
            var one = new byte[1];
            return await socket.ReceiveAsync(one, cts.Token) == 1 && one[0] == 42;
        }
        catch (Exception ex) when (ex is SocketException or OperationCanceledException)
        {
            return false;
        }
    }

    // ---------------------------------------------------------------- progress and snapshots

    /// <summary>Prints a line every minute, takes the middle snapshot, and stops traffic at the end of the duration.</summary>
    private async Task<Snapshot> ProgressAsync(CancellationTokenSource stop)
    {
        Snapshot? middle = null;
        var nextLine = TimeSpan.FromMinutes(1);
        using var tick = new PeriodicTimer(TimeSpan.FromSeconds(1));
        while (_clock.Elapsed < options.Duration && _fatal is null)
        {
            await tick.WaitForNextTickAsync();
            if (_warren.Edge!.HasExited)
            {
                _fatal = $"the edge exited ({_warren.Edge.ExitCode}) during the run; see {options.Work}/edge.log";
                break;
            }
            if (middle is null && _clock.Elapsed >= options.Duration / 2)
            {
                middle = await SnapshotAsync("middle");
            }
            if (_clock.Elapsed >= nextLine)
            {
                nextLine += TimeSpan.FromMinutes(1);
                var now = await SnapshotAsync("progress");
                Log(Progress(now));
            }
        }
        await stop.CancelAsync();
        return middle ?? await SnapshotAsync("middle");
    }

    private string Progress(Snapshot s)
    {
        var ops = string.Join(", ", Traffic.Kinds.Select(k => $"{Name(k)} {_traffic.Ok(k)}"));
        var bytes = Traffic.Kinds.Sum(k => _traffic.Bytes(k));
        return $"{ops}; {Mib(bytes):0.0} MiB verified; errors expected {Expected().Count}, unexpected {Unexpected().Count}; " +
            $"edge rss {s.EdgeRssKb / 1024} MiB streams {G(s.Edge, "warren_edge_session_streams_open")} buffered {G(s.Edge, "warren_edge_inbound_buffered_bytes")}; " +
            $"agent rss {s.AgentRssKb / 1024} MiB streams {G(s.Agent, "warren_agent_session_streams_open")} buffered {G(s.Agent, "warren_agent_inbound_buffered_bytes")}; restarts {_windows.Count}";
    }

    private async Task<Snapshot> SnapshotAsync(string label)
    {
        var p = _warren.Ports;
        var edge = await Scrape.ReadAsync(_admin, p.EdgeAdmin);
        var agent = await Scrape.ReadAsync(_admin, p.AgentAdmin);
        return new Snapshot(label, _clock.Elapsed, Proc.RssKb(_warren.Edge!.Id), _warren.Agent is { } a ? Proc.RssKb(a.Id) : 0, edge, agent);
    }

    /// <summary>After traffic: until every baseline gauge is back at (or below) its value before traffic.</summary>
    private async Task<(bool Settled, TimeSpan After, Snapshot Last)> SettleAsync(Snapshot baseline)
    {
        Log($"waiting up to {options.Settle.TotalSeconds:0} s for streams and buffers to return to baseline " +
            "(the edge keeps idle tunnel connections pooled for 60 s)");
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var now = await SnapshotAsync("after settle");
            if (now.Edge is not null && now.Agent is not null && BaselineGauges.All(g => Value(now, g) <= Value(baseline, g)))
            {
                return (true, clock.Elapsed, now);
            }
            if (clock.Elapsed > options.Settle)
            {
                return (false, clock.Elapsed, now);
            }
            await Task.Delay(1000);
        }
    }

    private static double Value(Snapshot s, (string Side, string Metric) g) => (g.Side == "edge" ? s.Edge : s.Agent)?[g.Metric] ?? double.NaN;

    // ---------------------------------------------------------------- classification

    private List<RestartWindow> Windows()
    {
        lock (_windows)
        {
            return [.. _windows];
        }
    }

    /// <summary>Why a failure is expected (it overlaps a restart), or null. Wrong bytes are never expected.</summary>
    private static string? ExpectedBecause(Failure f, List<RestartWindow> windows, DateTime now)
    {
        if (f.Corruption)
        {
            return null;
        }
        foreach (var w in windows)
        {
            if (f.Start <= w.End(now) && f.End >= w.Start)
            {
                return f.Start < w.Start ? $"in flight at {w.Signal}" : $"started during a {w.Signal} restart";
            }
        }
        return null;
    }

    private List<(Failure Failure, string Because)> Expected()
    {
        var windows = Windows();
        var now = DateTime.UtcNow;
        return [.. _traffic.Failures.Select(f => (f, ExpectedBecause(f, windows, now))).Where(p => p.Item2 is not null).Select(p => (p.f, p.Item2!))];
    }

    private List<Failure> Unexpected()
    {
        var windows = Windows();
        var now = DateTime.UtcNow;
        return [.. _traffic.Failures.Where(f => ExpectedBecause(f, windows, now) is null)];
    }

    // ---------------------------------------------------------------- report

    private string Report(Snapshot start, Snapshot middle, Snapshot end, Snapshot settle, bool settled, TimeSpan settledAfter)
    {
        var r = new StringBuilder();
        var windows = Windows();
        var expected = Expected();
        var unexpected = Unexpected();
        r.AppendLine(CultureInfo.InvariantCulture, $"Command: `{options.Command}`  ");
        r.AppendLine(CultureInfo.InvariantCulture, $"Date: {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC; traffic {options.Duration.TotalSeconds:0} s, {options.Workers} workers, seed {options.Seed}; " +
            $"machine: {Proc.CpuModel()}, {Environment.ProcessorCount} cores, {Proc.MemoryGiB():0.#} GiB.");
        r.AppendLine();
        r.AppendLine("| traffic | completed | bytes verified | errors, expected | errors, unexpected |");
        r.AppendLine("| --- | ---: | ---: | ---: | ---: |");
        foreach (var kind in Traffic.Kinds)
        {
            r.AppendLine(CultureInfo.InvariantCulture, $"| {Name(kind)} | {_traffic.Ok(kind):N0} | {Mib(_traffic.Bytes(kind)):N1} MiB | {expected.Count(e => e.Failure.Kind == kind)} | {unexpected.Count(f => f.Kind == kind)} |");
        }
        r.AppendLine(CultureInfo.InvariantCulture, $"| **total** | {Traffic.Kinds.Sum(k => _traffic.Ok(k)):N0} | {Mib(Traffic.Kinds.Sum(k => _traffic.Bytes(k))):N1} MiB | {expected.Count} | {unexpected.Count} |");
        r.AppendLine();
        var term = windows.Where(w => w.Signal == "SIGTERM").ToList();
        var kill = windows.Where(w => w.Signal == "SIGKILL").ToList();
        r.AppendLine(string.Create(CultureInfo.InvariantCulture, $"Agent restarts: {windows.Count} ({term.Count} SIGTERM, {kill.Count} SIGKILL). ") +
            (term.Count > 0 ? $"Exit after SIGTERM (drain): {Range(term, w => w.ExitTook)}. " : "") +
            (windows.Count > 0 ? $"Serving again after the signal: {Range([.. windows.Where(w => w.Ready is not null)], w => w.Ready!.Value - w.Start)}." : ""));
        r.AppendLine();
        if (expected.Count > 0)
        {
            r.AppendLine("Expected errors (each overlaps a restart window: from the signal until the new agent serves, plus 2 s):");
            r.AppendLine();
            r.AppendLine("| restart | traffic | error | count |");
            r.AppendLine("| --- | --- | --- | ---: |");
            foreach (var g in expected.GroupBy(e => (e.Because, e.Failure.Kind, e.Failure.What)).OrderBy(g => g.Key.Because, StringComparer.Ordinal).ThenBy(g => g.Key.Kind))
            {
                r.AppendLine(CultureInfo.InvariantCulture, $"| {g.Key.Because} | {Name(g.Key.Kind)} | {g.Key.What} | {g.Count()} |");
            }
            r.AppendLine();
        }
        if (unexpected.Count > 0)
        {
            r.AppendLine(CultureInfo.InvariantCulture, $"**Unexpected failures: {unexpected.Count}** (first 20; details in {options.Work}/failures.log):");
            r.AppendLine();
            foreach (var f in unexpected.Take(20))
            {
                r.AppendLine(CultureInfo.InvariantCulture, $"- {(f.Start - _startedAt).TotalSeconds:0.0} s, {Name(f.Kind)}: {f.What}");
            }
            r.AppendLine();
        }
        if (_fatal is not null)
        {
            r.AppendLine(CultureInfo.InvariantCulture, $"**Run aborted:** {_fatal}");
            r.AppendLine();
        }
        r.AppendLine(CultureInfo.InvariantCulture, $"| | start (before traffic) | middle ({middle.At.TotalSeconds:0} s) | end of traffic | {settle.At.TotalSeconds - end.At.TotalSeconds:0} s after |");
        r.AppendLine("| --- | ---: | ---: | ---: | ---: |");
        Snapshot[] all = [start, middle, end, settle];
        r.AppendLine(CultureInfo.InvariantCulture, $"| edge RSS (MiB) | {string.Join(" | ", all.Select(s => (s.EdgeRssKb / 1024.0).ToString("0.0", CultureInfo.InvariantCulture)))} |");
        r.AppendLine(CultureInfo.InvariantCulture, $"| agent RSS (MiB; restarted process) | {string.Join(" | ", all.Select(s => (s.AgentRssKb / 1024.0).ToString("0.0", CultureInfo.InvariantCulture)))} |");
        foreach (var (side, metric) in new[]
        {
            ("edge", "warren_edge_sessions"), ("edge", "warren_edge_session_streams_open"), ("edge", "warren_edge_inbound_buffered_bytes"),
            ("edge", "warren_service_active_streams"), ("edge", "warren_edge_buffer_blocks_outstanding"), ("edge", "warren_edge_buffer_blocks_retained"), ("edge", "warren_edge_connections_open"), ("edge", "process_open_handles"), ("edge", "dotnet_total_memory_bytes"),
            ("agent", "warren_agent_sessions_connected"), ("agent", "warren_agent_session_streams_open"), ("agent", "warren_agent_inbound_buffered_bytes"),
            ("agent", "warren_agent_service_in_flight"), ("agent", "warren_agent_buffer_blocks_outstanding"), ("agent", "warren_agent_buffer_blocks_retained"), ("agent", "process_open_handles"), ("agent", "dotnet_total_memory_bytes"),
        })
        {
            var mark = BaselineGauges.Contains((side, metric)) ? " (baseline)" : "";
            r.AppendLine(CultureInfo.InvariantCulture, $"| {side} `{metric}`{mark} | {string.Join(" | ", all.Select(s => G(side == "edge" ? s.Edge : s.Agent, metric)))} |");
        }
        r.AppendLine();
        r.AppendLine(settled
            ? $"Streams and inbound buffers back to baseline {settledAfter.TotalSeconds:0} s after traffic stopped."
            : $"**Not back to baseline after {settledAfter.TotalSeconds:0} s**: " + string.Join(", ", BaselineGauges
                .Where(g => !(Value(settle, g) <= Value(start, g))).Select(g => $"{g.Side} {g.Metric} {Value(settle, g)} (baseline {Value(start, g)})")));
        File.WriteAllLines(Path.Combine(options.Work, "failures.log"), _traffic.Failures.Select(f =>
            $"{f.Start:O} .. {f.End:O} {Name(f.Kind)} [{ExpectedBecause(f, windows, DateTime.UtcNow) ?? "UNEXPECTED"}] {f.What}\n  {f.Detail.Replace("\n", "\n  ", StringComparison.Ordinal)}"));
        return r.ToString();
    }

    private static string Range(List<RestartWindow> windows, Func<RestartWindow, TimeSpan> pick) =>
        windows.Count == 0 ? "-" : $"{windows.Min(w => pick(w).TotalSeconds):0.0}–{windows.Max(w => pick(w).TotalSeconds):0.0} s";

    private static string G(Scrape? scrape, string metric) =>
        scrape is null ? "n/a" : scrape[metric].ToString(metric.EndsWith("_bytes", StringComparison.Ordinal) && scrape[metric] > 1e6 ? "N0" : "0.##", CultureInfo.InvariantCulture);

    private static double Mib(long bytes) => bytes / 1024.0 / 1024.0;

    internal static string Name(OpKind kind) => kind switch
    {
        OpKind.HttpSmall => "HTTP GET, 0–4 KiB",
        OpKind.HttpDownload => "HTTP download, 256 KiB–8 MiB",
        OpKind.HttpUpload => "HTTP upload, 256 KiB–8 MiB",
        OpKind.WebSocket => "WebSocket echo, 1–16 messages of ≤64 KiB",
        _ => "TCP echo, 16 KiB–2 MiB",
    };

    private static void Log(string message) => Console.Error.WriteLine($"{DateTime.UtcNow:HH:mm:ss} {message}");
}
