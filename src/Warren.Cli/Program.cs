using System.CommandLine;
using Warren.Cli.Commands;
using Warren.Cli.Hosting;

SocketCompletions.RunInline();

var verbose = new Option<bool>("--verbose", "-v") { Description = "Debug logging", Recursive = true };
var root = new RootCommand("Warren: one encrypted, multiplexed session publishes all your private services")
{
    EdgeCommand.Create(verbose),
    AgentCommand.Create(verbose),
    DemoCommand.Create(verbose),
    TokenCommand.Create(),
    StatusCommand.Create(),
};
root.Options.Add(verbose);
// SIGTERM/SIGINT cancel the command's token and the edge and agent then drain for up to DrainGrace; by default
// System.CommandLine would end the process 2 s after the signal, cutting every drain short.
var invocation = new InvocationConfiguration { ProcessTerminationTimeout = EdgeCommand.DrainGrace + TimeSpan.FromSeconds(10) };
return await root.Parse(args).InvokeAsync(invocation).ConfigureAwait(false);
