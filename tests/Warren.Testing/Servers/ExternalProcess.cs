using System.Diagnostics;
using System.Globalization;
using Warren.Testing.Logging;

namespace Warren.Testing.Servers;

/// <summary>
/// A program the tests run (PostgreSQL, sshd, pgbench, ssh), its output in the test's log. Servers are stopped with
/// SIGINT or killed on dispose; commands are run to completion with <see cref="RunAsync"/>.
/// </summary>
internal sealed class ExternalProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly string _name;
    private readonly TestLog _log;
    private readonly System.Text.StringBuilder _output = new();

    private ExternalProcess(Process process, string name, TestLog log) => (_process, _name, _log) = (process, name, log);

    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    /// <summary>Starts <paramref name="file"/>; as <paramref name="user"/> through runuser when given and the tests run as root.</summary>
    public static ExternalProcess Start(TestLog log, string name, string file, IEnumerable<string> arguments, string? user = null)
    {
        var start = new ProcessStartInfo { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false };
        if (user is not null && Environment.UserName == "root")
        {
            start.FileName = "runuser";
            start.ArgumentList.Add("-u");
            start.ArgumentList.Add(user);
            start.ArgumentList.Add("--");
            start.ArgumentList.Add(file);
        }
        else
        {
            start.FileName = file;
        }
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        var process = new Process { StartInfo = start, EnableRaisingEvents = true };
        var result = new ExternalProcess(process, name, log);
        process.OutputDataReceived += (_, e) => result.OnLine(e.Data);
        process.ErrorDataReceived += (_, e) => result.OnLine(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        log.Note($"started {name} (pid {process.Id}): {start.FileName} {string.Join(' ', start.ArgumentList)}");
        return result;
    }

    /// <summary>Runs a command to its end (killed past <paramref name="timeout"/>); its exit code and output.</summary>
    public static async Task<(int ExitCode, string Output)> RunAsync(TestLog log, string name, string file, IEnumerable<string> arguments, TimeSpan timeout, string? user = null)
    {
        await using var process = Start(log, name, file, arguments, user);
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await process._process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"{name} did not finish within {timeout.TotalSeconds:0} s; output:\n{process.Output}");
        }
        return (process._process.ExitCode, process.Output);
    }

    public bool HasExited => _process.HasExited;

    /// <summary>The process id (the tests end their own processes by pid, never by name).</summary>
    public int Pid => _process.Id;

    /// <summary>Waits up to <paramref name="timeout"/> for the program to end (and its output to be read); its exit code.</summary>
    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"{_name} did not end within {timeout.TotalSeconds:0} s; output:\n{Output}");
        }
        return _process.ExitCode;
    }

    private void OnLine(string? line)
    {
        if (line is null)
        {
            return;
        }
        lock (_output)
        {
            _output.AppendLine(line);
        }
        _log.Write(_name, line);
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            // SIGINT: PostgreSQL's fast shutdown, sshd's exit; then a kill if it lingers.
            using (var interrupt = Process.Start(new ProcessStartInfo("kill", ["-INT", _process.Id.ToString(CultureInfo.InvariantCulture)]) { UseShellExecute = false })!)
            {
                await interrupt.WaitForExitAsync();
            }
            try
            {
                await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(15));
            }
            catch (TimeoutException)
            {
                _process.Kill(entireProcessTree: true);
                await _process.WaitForExitAsync();
            }
        }
        _process.Dispose();
    }
}
