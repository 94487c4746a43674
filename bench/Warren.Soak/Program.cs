using Warren.LoadTest;
using Warren.Soak;

// warren-soak: mixed verified traffic through real warren edge and agent processes for a chosen duration, with the
// agent restarted periodically (SIGTERM and SIGKILL in turn). Run it with bench/soak.sh, which builds Release first.
//   --warren PATH          the warren executable (or warren.dll) to run as edge and agent (required)
//   --duration 10m         how long traffic runs (s, m or h suffix; plain number = seconds)
//   --restart-every 60s    agent restart interval; 0 for none
//   --workers 16           concurrent operations
//   --settle 180s          how long to wait, after traffic, for streams and buffers to return to baseline
//   --op-timeout 60s       an operation that takes longer fails
//   --work DIR             configs and logs (default /tmp/warren-soak); --report FILE: the Markdown report
//   --seed N               traffic seed; --command TEXT: the command line, for the report
// Exit code: 0 when every byte verified, every error fell in a restart window and the gauges returned to baseline.
Args options;
SoakOptions soak;
try
{
    options = Args.Parse(args);
    soak = SoakOptions.From(options);
}
catch (Exception ex) when (ex is ArgumentException or FormatException or OverflowException)
{
    await Console.Error.WriteLineAsync($"warren-soak: {ex.Message}");
    return 2;
}
try
{
    return await new SoakRun(soak).RunAsync();
}
catch (Exception ex) when (ex is TimeoutException or InvalidOperationException or IOException or System.Net.Sockets.SocketException)
{
    // The processes it started are stopped on the way out (await using); say why in one line.
    await Console.Error.WriteLineAsync($"warren-soak: {ex.Message}");
    return 1;
}
