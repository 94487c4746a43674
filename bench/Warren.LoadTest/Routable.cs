using System.Diagnostics;
using System.Globalization;
using System.Net;

namespace Warren.LoadTest;

/// <summary>
/// Starts the agent (the command after "--", its output to --log) and measures the time until every hostname
/// s1..sN.domain answers 200 through the edge. Prints the milliseconds (or -1 on timeout); the pid goes to --pidfile.
/// </summary>
internal static class Routable
{
    public static async Task<int> RunAsync(Args args)
    {
        var port = args.Int("port", 18090);
        var count = args.Int("count", 1);
        var domain = args.Get("domain", "bench");
        var path = args.Get("path", "/6b");
        var timeout = TimeSpan.FromSeconds(args.Double("timeout", 60));
        var hosts = Enumerable.Range(1, count).Select(i => $"s{i}.{domain}").ToList();

        using var client = new HttpClient(Loopback.Handler(port, 0)) { Timeout = TimeSpan.FromSeconds(5) };
        var start = new ProcessStartInfo("/bin/sh") { UseShellExecute = false };
        foreach (var a in (string[])["-c", "exec \"$@\" >\"$BENCH_LOG\" 2>&1", "sh", .. args.Rest])
        {
            start.ArgumentList.Add(a);
        }
        start.Environment["BENCH_LOG"] = args.Get("log", "/dev/null");

        var clock = Stopwatch.StartNew();
        using var process = Process.Start(start) ?? throw new InvalidOperationException("could not start the agent");
        await File.WriteAllTextAsync(args.Required("pidfile"), process.Id.ToString(CultureInfo.InvariantCulture));

        var pending = new HashSet<string>(hosts, StringComparer.Ordinal);
        using var gate = new SemaphoreSlim(64);
        while (pending.Count > 0 && clock.Elapsed < timeout && !process.HasExited)
        {
            var round = pending.ToList();
            var answered = await Task.WhenAll(round.Select(async host =>
            {
                await gate.WaitAsync();
                try
                {
                    using var request = new HttpRequestMessage(HttpMethod.Get, $"http://127.0.0.1:{port}{path}");
                    request.Headers.Host = host;
                    using var response = await client.SendAsync(request);
                    return response.StatusCode == HttpStatusCode.OK ? host : null;
                }
                catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
                {
                    return null;
                }
                finally
                {
                    gate.Release();
                }
            }));
            foreach (var host in answered)
            {
                if (host is not null)
                {
                    pending.Remove(host);
                }
            }
            if (pending.Count > 0)
            {
                await Task.Delay(10);
            }
        }
        Console.WriteLine(pending.Count == 0
            ? clock.Elapsed.TotalMilliseconds.ToString("F0", CultureInfo.InvariantCulture)
            : "-1");
        return 0;
    }
}
