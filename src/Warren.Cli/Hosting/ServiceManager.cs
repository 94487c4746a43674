using Microsoft.Extensions.Hosting.Systemd;

namespace Warren.Cli.Hosting;

/// <summary>
/// Tells systemd where the edge or agent stands (deploy/systemd units use <c>Type=notify</c>; docs/operations.md,
/// "Installing with systemd"): READY=1 once the listeners are bound or the agent has started, STOPPING=1 when a
/// drain begins. Outside systemd (no <c>NOTIFY_SOCKET</c>) it does nothing.
/// </summary>
internal static class ServiceManager
{
    private static readonly SystemdNotifier Notifier = new();

    /// <summary>
    /// READY=1, with MAINPID: after an upgrade started by SIGUSR2 (Hosting/UpgradeSignal.cs) this process is the old
    /// one's child, and systemd must follow it as the service's main process before the old one exits (the units
    /// set NotifyAccess=all for that). For a process that already is the main one it changes nothing.
    /// </summary>
    public static void Ready() => Notify(new ServiceState(string.Create(System.Globalization.CultureInfo.InvariantCulture, $"READY=1\nMAINPID={Environment.ProcessId}")));

    public static void Stopping() => Notify(ServiceState.Stopping);

    private static void Notify(ServiceState state)
    {
        if (Notifier.IsEnabled)
        {
            Notifier.Notify(state);
        }
    }
}
