using System.Diagnostics;
using System.Globalization;
using Warren.Testing.Logging;

namespace Warren.Testing.Servers;

/// <summary>
/// A throwaway Redis (Debian's redis-server; .ci/run installs it) on 127.0.0.1 for the cluster tests
/// (docs/cluster.md): no persistence (no RDB snapshots, no AOF), its own temporary folder as working directory, on a
/// reserved port (Redis binds with SO_REUSEADDR, so it takes the port the reservation holds without listening).
/// <see cref="KillAsync"/> ends it with SIGKILL by its pid and <see cref="StartAgainAsync"/> brings it back on the
/// same port, empty, as a Redis that crashed and restarted without persistence.
/// </summary>
internal sealed class RedisServer : IAsyncDisposable
{
    private readonly TestLog _log;
    private readonly string _folder;
    private ExternalProcess? _server;

    private RedisServer(TestLog log, string folder, int port) => (_log, _folder, Port) = (log, folder, port);

    public int Port { get; }

    /// <summary>The StackExchange.Redis configuration string edges are given (cluster.redis in edge.yaml).</summary>
    public string Configuration => "127.0.0.1:" + Port.ToString(CultureInfo.InvariantCulture);

    public static string Executable => File.Exists("/usr/bin/redis-server")
        ? "/usr/bin/redis-server"
        : throw new InvalidOperationException("redis-server is not installed (apt-get install redis-server; .ci/run does)");

    /// <summary>Starts a server on <paramref name="port"/> (a reserved one) and waits until it accepts connections.</summary>
    public static async Task<RedisServer> StartAsync(TestLog log, int port)
    {
        var redis = new RedisServer(log, Directory.CreateTempSubdirectory("warren-redis-").FullName, port);
        try
        {
            await redis.StartAgainAsync();
        }
        catch
        {
            await redis.DisposeAsync();
            throw;
        }
        return redis;
    }

    /// <summary>Starts the server (again, after <see cref="KillAsync"/>) on the same port and waits until it serves.</summary>
    public async Task StartAgainAsync()
    {
        if (_server is { HasExited: false })
        {
            throw new InvalidOperationException("redis-server is already running");
        }
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }
        var server = ExternalProcess.Start(_log, "redis", Executable,
            ["--port", Port.ToString(CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", _folder, "--daemonize", "no", "--protected-mode", "yes", "--loglevel", "notice"]);
        _server = server;
        await Wait.UntilAsync(() => server.Output.Contains("Ready to accept connections", StringComparison.Ordinal) || server.HasExited,
            "redis-server to accept connections", TimeSpan.FromSeconds(60));
        if (server.HasExited)
        {
            throw new InvalidOperationException("redis-server exited: " + server.Output);
        }
    }

    /// <summary>SIGKILL by pid: Redis gone at once, as in a crash; nothing kept (no persistence).</summary>
    public async Task KillAsync()
    {
        if (_server is { HasExited: false } server)
        {
            using (var kill = Process.Start(new ProcessStartInfo("kill", ["-KILL", server.Pid.ToString(CultureInfo.InvariantCulture)]) { UseShellExecute = false })!)
            {
                await kill.WaitForExitAsync();
            }
            await Wait.UntilAsync(() => server.HasExited, "redis-server to exit after SIGKILL");
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync(); // SIGINT: Redis shuts down (nothing to save); killed if it lingers
        }
        LoggedTest.DeleteDirectory(_folder);
    }
}
