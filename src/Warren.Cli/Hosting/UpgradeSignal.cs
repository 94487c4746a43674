using System.Diagnostics;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;

namespace Warren.Cli.Hosting;

/// <summary>
/// SIGUSR2 upgrades the edge in place (docs/operations.md, "Upgrading the edge without refusing anyone"), as nginx's
/// USR2 does: this process starts the <c>warren</c> binary now on disk with its own arguments and environment; the new
/// process takes the listening sockets over through <c>{data}/edge.sock</c> and, once it serves, this one drains and
/// exits. Under systemd the new process names itself the main one (ServiceManager.Ready, MAINPID=). Its output goes
/// where this process's goes (journald).
/// </summary>
internal static partial class UpgradeSignal
{
    /// <summary>SIGUSR2 on Linux (x64 and arm64); PosixSignalRegistration takes raw numbers.</summary>
    private const int SigUsr2 = 12;

    public static IDisposable? Register(ILogger logger)
    {
        if (!OperatingSystem.IsLinux())
        {
            return null;
        }
        return PosixSignalRegistration.Create((PosixSignal)SigUsr2, context =>
        {
            context.Cancel = true; // SIGUSR2's default ends the process
            StartSuccessor(logger);
        });
    }

    private static void StartSuccessor(ILogger logger)
    {
        var arguments = Environment.GetCommandLineArgs();
        var path = Environment.ProcessPath ?? arguments[0];
        var start = new ProcessStartInfo(path) { UseShellExecute = false };
        // `dotnet warren.dll edge ...` runs the host: the entry assembly is its first argument again.
        var first = Path.GetFileNameWithoutExtension(path) == "dotnet" ? 0 : 1;
        foreach (var argument in arguments.AsSpan(first))
        {
            start.ArgumentList.Add(argument);
        }
        try
        {
            using var successor = Process.Start(start)!;
            Log.Started(logger, successor.Id, path);
        }
        catch (Exception ex) when (ex is System.ComponentModel.Win32Exception or InvalidOperationException)
        {
            Log.StartFailed(logger, path, ex.Message);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(1120, LogLevel.Information, "Upgrade (SIGUSR2): started a new edge, pid {Pid} ({Path}); it takes the listening sockets over and this one drains once it serves", EventName = "UpgradeStarted")]
        public static partial void Started(ILogger logger, int pid, string path);

        [LoggerMessage(1121, LogLevel.Error, "Upgrade (SIGUSR2): could not start {Path}: {Message}; this edge goes on serving", EventName = "UpgradeStartFailed")]
        public static partial void StartFailed(ILogger logger, string path, string message);
    }
}
