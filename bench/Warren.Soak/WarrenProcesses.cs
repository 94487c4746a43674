using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text.RegularExpressions;

namespace Warren.Soak;

/// <summary>
/// Release <c>warren edge</c> and <c>warren agent</c> processes with generated configs (as bench/run.sh starts them):
/// the agent pins the edge's generated certificate and publishes web.soak (HTTP and WebSocket) and a TCP port.
/// Output goes to log files in the work directory. Every process is stopped by its pid.
/// </summary>
internal sealed partial class WarrenProcesses : IAsyncDisposable
{
    private readonly string _warren;
    private readonly string _work;
    private readonly string _token = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));
    private string _fingerprint = "";
    private int _agentStarts;

    public WarrenProcesses(string warren, string work, PortSet ports)
    {
        _warren = warren;
        _work = work;
        Ports = ports;
    }

    public sealed record PortSet(int EdgeHttp, int EdgeAgents, int EdgeAdmin, int EdgeTcp, int AgentAdmin, int BackendHttp, int BackendTcp);

    public PortSet Ports { get; }
    public Process? Edge { get; private set; }
    public Process? Agent { get; private set; }
    public DateTime AgentStartedAt { get; private set; }

    public async Task StartEdgeAsync(CancellationToken cancellationToken)
    {
        var p = Ports;
        var data = Path.Combine(_work, "edge-data");
        Directory.CreateDirectory(data);
        await File.WriteAllTextAsync(Path.Combine(_work, "edge.yaml"), $"""
            listen:
              http: 127.0.0.1:{p.EdgeHttp}
              https:
              agents: 127.0.0.1:{p.EdgeAgents}
              admin: 127.0.0.1:{p.EdgeAdmin}
            data: {data}
            tokens:
              - name: soak
                token: ${"{"}WARREN_SOAK_TOKEN{"}"}
                allow_hosts: ["*.soak"]
                allow_ports: [{p.EdgeTcp}]
            limits:
              max_request_body_size: 1GB
            """, cancellationToken);
        var fingerprint = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        Edge = Start("edge", Path.Combine(_work, "edge.log"), line =>
        {
            if (FingerprintPattern().Match(line) is { Success: true } m)
            {
                fingerprint.TrySetResult(m.Groups[1].Value);
            }
        }, "edge", "--config", Path.Combine(_work, "edge.yaml"));
        var exited = Edge.WaitForExitAsync(cancellationToken);
        var first = await Task.WhenAny(fingerprint.Task, exited).WaitAsync(TimeSpan.FromSeconds(60), cancellationToken);
        if (first != fingerprint.Task)
        {
            throw new InvalidOperationException($"warren edge exited ({Edge.ExitCode}) before it printed its certificate fingerprint; see {_work}/edge.log");
        }
        _fingerprint = await fingerprint.Task;
    }

    public async Task StartAgentAsync(CancellationToken cancellationToken)
    {
        var p = Ports;
        var config = Path.Combine(_work, "agent.yaml");
        if (_agentStarts == 0)
        {
            await File.WriteAllTextAsync(config, $"""
                edge: 127.0.0.1:{p.EdgeAgents}
                token: {_token}
                edge_fingerprint: {_fingerprint}
                name: soak
                connections: 1
                admin: 127.0.0.1:{p.AgentAdmin}
                services:
                  - name: web
                    hostnames: [web.soak]
                    target: http://127.0.0.1:{p.BackendHttp}
                    max_concurrency: 1024
                  - name: echo
                    port: {p.EdgeTcp}
                    target: tcp://127.0.0.1:{p.BackendTcp}
                    max_concurrency: 1024
                """, cancellationToken);
        }
        var n = ++_agentStarts;
        Agent = Start("agent", Path.Combine(_work, string.Create(CultureInfo.InvariantCulture, $"agent-{n}.log")), null, "agent", "--config", config);
        AgentStartedAt = DateTime.UtcNow;
    }

    /// <summary>Stops the agent with SIGTERM (graceful drain) or SIGKILL; how long it took to exit.</summary>
    public async Task<TimeSpan> StopAgentAsync(bool kill, TimeSpan timeout)
    {
        var agent = Agent ?? throw new InvalidOperationException("no agent");
        var clock = Stopwatch.StartNew();
        await SignalAsync(agent, kill ? "KILL" : "TERM");
        try
        {
            await agent.WaitForExitAsync().WaitAsync(timeout);
        }
        catch (TimeoutException)
        {
            agent.Kill();
            await agent.WaitForExitAsync();
            throw new TimeoutException($"the agent (pid {agent.Id}) did not exit within {timeout.TotalSeconds:0} s of SIGTERM; killed");
        }
        var took = clock.Elapsed;
        agent.Dispose();
        Agent = null;
        return took;
    }

    private static async Task SignalAsync(Process process, string signal)
    {
        // Process.Kill sends SIGKILL only; kill(1) sends either, to this pid alone.
        using var kill = Process.Start(new ProcessStartInfo("kill") { ArgumentList = { "-" + signal, process.Id.ToString(CultureInfo.InvariantCulture) }, UseShellExecute = false })!;
        await kill.WaitForExitAsync();
    }

    private Process Start(string name, string log, Action<string>? onLine, params string[] arguments)
    {
        var start = new ProcessStartInfo(_warren)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        if (_warren.EndsWith(".dll", StringComparison.Ordinal))
        {
            start.FileName = "dotnet";
            start.ArgumentList.Add(_warren);
        }
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        start.Environment["WARREN_SOAK_TOKEN"] = _token;
        // Flushed per line and left open: output events can still arrive after the process exits.
        var writer = new StreamWriter(log, append: true) { AutoFlush = true };
        var process = new Process { StartInfo = start, EnableRaisingEvents = true };
        DataReceivedEventHandler handler = (_, e) =>
        {
            if (e.Data is null)
            {
                return;
            }
            lock (writer)
            {
                writer.WriteLine(e.Data);
            }
            onLine?.Invoke(e.Data);
        };
        process.OutputDataReceived += handler;
        process.ErrorDataReceived += handler;
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        Console.Error.WriteLine($"started warren {name} (pid {process.Id})");
        return process;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var process in new[] { Agent, Edge })
        {
            if (process is null)
            {
                continue;
            }
            if (!process.HasExited)
            {
                await SignalAsync(process, "TERM");
                try
                {
                    await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(40));
                }
                catch (TimeoutException)
                {
                    process.Kill();
                }
            }
            process.Dispose();
        }
        Agent = null;
        Edge = null;
    }

    [GeneratedRegex("SHA-256 ([0-9a-fA-F]{64})")]
    private static partial Regex FingerprintPattern();
}
