using System.Diagnostics;
using System.Reflection;

namespace Warren.SecurityTests.Harness;

/// <summary>Runs the real <c>warren</c> binary (<c>dotnet warren.dll ...</c>) as built, and collects its output.</summary>
internal static class WarrenCli
{
    public sealed record Result(int ExitCode, string StandardOutput, string StandardError);

    /// <summary>src/Warren.Cli/bin/{Configuration}/net10.0/warren.dll, the configuration being the tests' own.</summary>
    public static string FindWarrenDll()
    {
        var configuration = typeof(WarrenCli).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()?.Configuration ?? "Release";
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Warren.slnx")))
            {
                var dll = Path.Combine(dir.FullName, "src", "Warren.Cli", "bin", configuration, "net10.0", "warren.dll");
                return File.Exists(dll) ? dll : throw new FileNotFoundException($"build the CLI first: {dll} is missing");
            }
        }
        throw new FileNotFoundException("Warren.slnx not found above " + AppContext.BaseDirectory);
    }

    /// <summary>
    /// Runs <c>warren <paramref name="arguments"/></c> with no WARREN_* variables inherited (plus
    /// <paramref name="environment"/>) and waits for it to exit; fails past <paramref name="timeout"/>.
    /// </summary>
    public static async Task<Result> RunAsync(IEnumerable<string> arguments, TestLog log, IReadOnlyDictionary<string, string>? environment = null, TimeSpan? timeout = null)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(FindWarrenDll());
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        foreach (var key in start.Environment.Keys.Where(k => k.StartsWith("WARREN_", StringComparison.OrdinalIgnoreCase)).ToArray())
        {
            start.Environment.Remove(key);
        }
        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[key] = value;
        }
        log.Note("$ warren " + string.Join(' ', start.ArgumentList.Skip(1)));
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(30));
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"warren {string.Join(' ', arguments)} did not exit; stderr so far: {(stderr.IsCompleted ? stderr.Result : "")}");
        }
        var result = new Result(process.ExitCode, await stdout, await stderr);
        log.Note($"exit {result.ExitCode}\nstdout: {result.StandardOutput}\nstderr: {result.StandardError}");
        return result;
    }
}
