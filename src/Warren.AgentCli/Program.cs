using System.CommandLine;
using Warren.Cli.Commands;
using Warren.Cli.Hosting;

// `warren-agent`: `warren agent` as a program of its own (the project file says why).
SocketCompletions.RunInline();
using var idleMemory = IdleMemory.Start();

var verbose = new Option<bool>("--verbose", "-v") { Description = "Debug logging" };
var root = AgentCommand.Configure(new RootCommand("warren-agent: publish the services in agent.yaml through a Warren edge"), verbose);
root.Options.Add(verbose);
// As in `warren` (src/Warren.Cli/Program.cs): SIGTERM and SIGINT start a drain bounded by drain_timeout.
var invocation = new InvocationConfiguration { ProcessTerminationTimeout = Warren.Configuration.EdgeConfig.MaxDrainTimeout + TimeSpan.FromSeconds(30) };
return await root.Parse(args).InvokeAsync(invocation).ConfigureAwait(false);
