using Warren.LoadTest;

// warren-loadtest: the parts of bench/run.sh that shell tools do badly.
//   backend  --port P                         Kestrel: /ws WebSocket echo, /discard (reads and counts a body)
//   ws       --port P --host H --count N ...  N concurrent WebSockets through the edge, echo RTT, RSS of pids
//   routable --port P --count N ... -- CMD    start CMD (the agent), time until s1..sN.bench all answer 200
//   report   --results F --doc D --svg S      report on stdout, its "End-to-end (N cores)" section in D, chart
//            [--doc-in D0] [--svg-name NAME]   (section spliced into D0's text; NAME is how the section links the chart)
if (args.Length == 0)
{
    await Console.Error.WriteLineAsync("usage: warren-loadtest backend|ws|routable|report [options]");
    return 2;
}
var options = Args.Parse(args.AsSpan(1));
return args[0] switch
{
    "backend" => await Backend.RunAsync(options),
    "ws" => await WebSocketLoad.RunAsync(options),
    "routable" => await Routable.RunAsync(options),
    "report" => Report.Run(options),
    _ => 2,
};
