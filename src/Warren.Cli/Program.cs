using System.CommandLine;
using Warren.Cli.Commands;
using Warren.Cli.Hosting;

SocketCompletions.RunInline();
using var idleMemory = IdleMemory.Start();

var verbose = new Option<bool>("--verbose", "-v") { Description = "Debug logging", Recursive = true };
var root = new RootCommand("Warren: one encrypted, multiplexed session publishes all your private services")
{
    EdgeCommand.Create(verbose),
    AgentCommand.Create(verbose),
    ConnectCommand.Create(verbose),
    DemoCommand.Create(verbose),
    TokenCommand.Create(),
    StatusCommand.Create(),
    ReloadCommand.Create(),
    SessionsCommand.Create(),
    DrainCommand.Create(),
    MaintenanceCommand.Create(),
    BansCommand.Create(),
};
root.Options.Add(verbose);
// SIGTERM/SIGINT cancel the command's token and the edge and agent then drain for up to their drain_timeout; by
// default System.CommandLine would end the process 2 s after the signal, cutting every drain short. The drain itself
// is bounded by drain_timeout (at most EdgeConfig.MaxDrainTimeout), so this only catches a drain that hangs.
var invocation = new InvocationConfiguration { ProcessTerminationTimeout = Warren.Configuration.EdgeConfig.MaxDrainTimeout + TimeSpan.FromSeconds(30) };
return await root.Parse(args).InvokeAsync(invocation).ConfigureAwait(false);
