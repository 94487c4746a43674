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

    public static void Ready() => Notify(ServiceState.Ready);

    public static void Stopping() => Notify(ServiceState.Stopping);

    private static void Notify(ServiceState state)
    {
        if (Notifier.IsEnabled)
        {
            Notifier.Notify(state);
        }
    }
}
