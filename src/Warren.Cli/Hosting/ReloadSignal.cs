using System.Runtime.InteropServices;

namespace Warren.Cli.Hosting;

/// <summary>
/// SIGHUP reloads the configuration (docs/operations.md, "Reload"; systemd's ExecReload sends it). Signals arrive
/// on a runtime thread: the reload runs on the thread pool, one at a time (the edge and agent serialise them too),
/// and reports through its own log lines.
/// </summary>
internal static class ReloadSignal
{
    public static IDisposable Register(Func<Task> reload)
    {
        ArgumentNullException.ThrowIfNull(reload);
        return PosixSignalRegistration.Create(PosixSignal.SIGHUP, context =>
        {
            context.Cancel = true; // the default for SIGHUP ends the process
            _ = Task.Run(reload);
        });
    }
}
