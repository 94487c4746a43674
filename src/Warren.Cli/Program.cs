using System.CommandLine;
using Warren.Cli.Commands;

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
return await root.Parse(args).InvokeAsync().ConfigureAwait(false);
