using System.Diagnostics;
using System.Reflection;
using System.Globalization;
using System.Text;
using Warren.Testing.Logging;

namespace Warren.Testing.Hosting;

/// <summary>
/// The real <c>warren</c> CLI in its own process: <c>dotnet warren.dll ...</c> as built with the tests, or, when the
/// variable <see cref="ExecutableVariable"/> names a file, that executable (.ci/run points it at the release binary,
/// trimmed and self-contained: docs/operations.md, "Release artefacts"). <see cref="StartAgentBinary"/> does the same
/// for <c>warren-agent</c>. Its stdout and stderr go to the test's log
/// and are kept for assertions.
/// </summary>
internal sealed class WarrenProcess : IAsyncDisposable
{
    /// <summary>How a short-lived command (<c>warren token ...</c>, a refused start) ended.</summary>
    public sealed record Result(int ExitCode, string StandardOutput, string StandardError);

    private readonly Process _process;
    private readonly StringBuilder _stdout = new();
    private readonly StringBuilder _stderr = new();
    private readonly TaskCompletionSource _stdoutClosed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _stderrClosed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private WarrenProcess(Process process) => _process = process;

    public int Id => _process.Id;

    public bool HasExited => _process.HasExited;

    public string StandardOutput
    {
        get
        {
            lock (_stdout)
            {
                return _stdout.ToString();
            }
        }
    }

    public string StandardError
    {
        get
        {
            lock (_stderr)
            {
                return _stderr.ToString();
            }
        }
    }

    /// <summary>The test environment's variable that names a published <c>warren</c> executable to run instead of warren.dll.</summary>
    public const string ExecutableVariable = "WARREN_TEST_EXECUTABLE";

    /// <summary>
    /// The variable that names a published <c>warren-agent</c> (src/Warren.AgentCli, Native AOT: .ci/run publishes it)
    /// to run instead of warren-agent.dll.
    /// </summary>
    public const string AgentExecutableVariable = "WARREN_TEST_AGENT_EXECUTABLE";

    /// <summary>A program the tests start: its name, its build output (name.dll in src/Project) and the variable that names a published one.</summary>
    private sealed record Program(string Name, string Project, string Variable);

    private static readonly Program Warren = new("warren", "Warren.Cli", ExecutableVariable);
    private static readonly Program AgentBinary = new("warren-agent", "Warren.AgentCli", AgentExecutableVariable);

    /// <summary>The published executable the program's variable names; null when unset (its .dll is run).</summary>
    private static string? PublishedExecutable(Program program)
    {
        if (Environment.GetEnvironmentVariable(program.Variable) is not { Length: > 0 } path)
        {
            return null;
        }
        return File.Exists(path) ? Path.GetFullPath(path) : throw new FileNotFoundException($"{program.Variable} names {path}, which does not exist");
    }

    /// <summary>name.dll next to the test assembly (a project reference copies it), else the program's project's own output.</summary>
    private static string FindDll(Program program)
    {
        var dll = program.Name + ".dll";
        var here = Path.Combine(AppContext.BaseDirectory, dll);
        if (File.Exists(here) && File.Exists(Path.Combine(AppContext.BaseDirectory, program.Name + ".runtimeconfig.json")))
        {
            return here;
        }
        var configuration = typeof(WarrenProcess).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()?.Configuration ?? "Release";
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Warren.slnx")))
            {
                var built = Path.Combine(dir.FullName, "src", program.Project, "bin", configuration, "net10.0", dll);
                if (File.Exists(built))
                {
                    return built;
                }
                break;
            }
        }
        throw new FileNotFoundException($"{dll} was not found next to the tests ({AppContext.BaseDirectory}) nor in src/{program.Project}/bin/{configuration}/net10.0; build the solution first");
    }

    public static WarrenProcess Start(TestLog log, string name, params string[] arguments) => Start(log, name, arguments, environment: null);

    /// <summary>
    /// Starts <c>warren <paramref name="arguments"/></c> with no WARREN_* variables inherited from the test environment,
    /// only those in <paramref name="environment"/>.
    /// </summary>
    /// <remarks>
    /// Where <see cref="AgentExecutableVariable"/> names a published warren-agent, <c>warren agent ARGS</c> runs as
    /// <c>warren-agent ARGS</c>: .ci/run runs the tests that start agent processes (restarts, kills, drains, failover,
    /// real clients under a restart) once more that way, against the native agent.
    /// </remarks>
    public static WarrenProcess Start(TestLog log, string name, IEnumerable<string> arguments, IReadOnlyDictionary<string, string>? environment)
    {
        var list = arguments.ToList();
        return list is ["agent", ..] && PublishedExecutable(AgentBinary) is not null
            ? Start(AgentBinary, log, name, list.Skip(1), environment)
            : Start(Warren, log, name, list, environment);
    }

    /// <summary>Starts <c>warren-agent <paramref name="arguments"/></c>, the agent's own binary, as <see cref="Start(TestLog, string, IEnumerable{string}, IReadOnlyDictionary{string, string}?)"/> starts warren.</summary>
    public static WarrenProcess StartAgentBinary(TestLog log, string name, IEnumerable<string> arguments, IReadOnlyDictionary<string, string>? environment = null) =>
        Start(AgentBinary, log, name, arguments, environment);

    /// <summary>Whether <see cref="StartAgentBinary"/> runs the published (Native AOT) binary, not warren-agent.dll.</summary>
    public static bool AgentBinaryIsPublished => PublishedExecutable(AgentBinary) is not null;

    private static WarrenProcess Start(Program program, TestLog log, string name, IEnumerable<string> arguments, IReadOnlyDictionary<string, string>? environment)
    {
        var published = PublishedExecutable(program);
        var dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host) ? host : "dotnet";
        var start = new ProcessStartInfo(published ?? dotnet)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        if (published is null)
        {
            start.ArgumentList.Add(FindDll(program));
        }
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        // The process reads only what the test gives it: no WARREN_* overrides leak in from the test environment.
        foreach (var key in start.Environment.Keys.Where(k => k.StartsWith("WARREN_", StringComparison.OrdinalIgnoreCase)).ToArray())
        {
            start.Environment.Remove(key);
        }
        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[key] = value;
        }
        var process = new Process { StartInfo = start, EnableRaisingEvents = true };
        var result = new WarrenProcess(process);
        process.OutputDataReceived += (_, e) => result.OnLine(log, name, "out", e.Data, result._stdout, result._stdoutClosed);
        process.ErrorDataReceived += (_, e) => result.OnLine(log, name, "err", e.Data, result._stderr, result._stderrClosed);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        log.Note($"started {name} (pid {process.Id}): {program.Name} {string.Join(' ', start.ArgumentList.Skip(published is null ? 1 : 0))}");
        return result;
    }

    /// <summary>Runs a command to completion (killed and failed past <paramref name="timeout"/>, 30 s by default).</summary>
    public static async Task<Result> RunAsync(IEnumerable<string> arguments, TestLog log, IReadOnlyDictionary<string, string>? environment = null, TimeSpan? timeout = null)
    {
        await using var process = Start(log, "warren", arguments, environment);
        var exitCode = await process.WaitForExitAsync(timeout ?? TimeSpan.FromSeconds(30));
        return new Result(exitCode, process.StandardOutput, process.StandardError);
    }

    private void OnLine(TestLog log, string name, string stream, string? line, StringBuilder text, TaskCompletionSource closed)
    {
        if (line is null)
        {
            closed.TrySetResult();
            return;
        }
        lock (text)
        {
            text.AppendLine(line);
        }
        log.Write($"{name}[{stream}]", line);
    }

    /// <summary>Waits for the process to exit (and its output to be read); its exit code.</summary>
    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(cts.Token);
            await Task.WhenAll(_stdoutClosed.Task, _stderrClosed.Task).WaitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            Kill();
            throw new TimeoutException($"warren (pid {_process.Id}) did not exit within {timeout.TotalSeconds:0.#} s");
        }
        return _process.ExitCode;
    }

    /// <summary>Sends SIGTERM to this process alone, as systemd or <c>docker stop</c> would.</summary>
    public Task TerminateAsync() => SignalAsync("TERM");

    /// <summary>Sends SIGHUP (reload the configuration), as systemd's ExecReload does.</summary>
    public Task HangUpAsync() => SignalAsync("HUP");

    /// <summary>Sends SIG<paramref name="signal"/> (TERM, HUP, USR2, ...) to this process alone.</summary>
    public async Task SignalAsync(string signal)
    {
        // Process.Kill sends SIGKILL only; kill(1) sends the signal to this pid alone.
        using var kill = Process.Start(new ProcessStartInfo("kill", ["-" + signal, _process.Id.ToString(CultureInfo.InvariantCulture)]) { UseShellExecute = false })!;
        await kill.WaitForExitAsync().ConfigureAwait(false);
        if (kill.ExitCode != 0)
        {
            throw new InvalidOperationException($"kill -{signal} {_process.Id} exited with {kill.ExitCode}");
        }
    }

    /// <summary>Kills the process and everything it started, as a crash or <c>kill -9</c> would.</summary>
    public void Kill()
    {
        try
        {
            _process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            Kill();
            try
            {
                await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
            }
            catch (TimeoutException)
            {
            }
        }
        _process.Dispose();
    }
}
