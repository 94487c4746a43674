using System.Globalization;
using Warren.Testing.Logging;

namespace Warren.Testing.Servers;

/// <summary>
/// A throwaway PostgreSQL (Debian's postgresql package; .ci/run installs it) on 127.0.0.1: initdb into a temporary
/// folder, trust authentication for the user postgres, no fsync. PostgreSQL refuses to run as root, so under root it
/// runs as the package's postgres user.
/// </summary>
internal sealed class PostgresServer : IAsyncDisposable
{
    private readonly ExternalProcess _server;
    private readonly string _folder;

    private PostgresServer(ExternalProcess server, string folder, int port) => (_server, _folder, Port) = (server, folder, port);

    public int Port { get; }

    /// <summary>Where pgbench, initdb and postgres are (the newest installed major version).</summary>
    public static string BinDirectory =>
        Directory.Exists("/usr/lib/postgresql")
            ? Directory.GetDirectories("/usr/lib/postgresql").OrderByDescending(d => int.TryParse(Path.GetFileName(d), out var v) ? v : 0).Select(d => Path.Combine(d, "bin")).First()
            : throw new InvalidOperationException("PostgreSQL is not installed (apt-get install postgresql; .ci/run does)");

    /// <summary>Starts a server on <paramref name="port"/> (a reserved one: PostgreSQL binds with SO_REUSEADDR) and waits until it accepts connections.</summary>
    public static async Task<PostgresServer> StartAsync(TestLog log, int port)
    {
        var folder = Directory.CreateTempSubdirectory("warren-pg-").FullName;
        var user = Environment.UserName == "root" ? "postgres" : null;
        if (user is not null)
        {
            var (chown, output) = await ExternalProcess.RunAsync(log, "chown", "chown", ["-R", "postgres:postgres", folder], TimeSpan.FromSeconds(30));
            if (chown != 0)
            {
                throw new InvalidOperationException("chown of the PostgreSQL folder failed: " + output);
            }
        }
        var data = Path.Combine(folder, "data");
        var (initdb, initOutput) = await ExternalProcess.RunAsync(log, "initdb", Path.Combine(BinDirectory, "initdb"),
            ["-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"], TimeSpan.FromSeconds(120), user);
        if (initdb != 0)
        {
            throw new InvalidOperationException("initdb failed: " + initOutput);
        }
        var server = ExternalProcess.Start(log, "postgres", Path.Combine(BinDirectory, "postgres"),
            ["-D", data, "-c", "listen_addresses=127.0.0.1", "-c", "port=" + port.ToString(CultureInfo.InvariantCulture), "-c", "unix_socket_directories=" + folder,
             "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off", "-c", "max_connections=50", "-c", "shared_buffers=16MB"], user);
        var postgres = new PostgresServer(server, folder, port);
        try
        {
            await Wait.UntilAsync(() => server.Output.Contains("database system is ready to accept connections", StringComparison.Ordinal) || server.HasExited,
                "PostgreSQL to accept connections", TimeSpan.FromSeconds(60));
            if (server.HasExited)
            {
                throw new InvalidOperationException("PostgreSQL exited: " + server.Output);
            }
        }
        catch
        {
            await postgres.DisposeAsync();
            throw;
        }
        return postgres;
    }

    public async ValueTask DisposeAsync()
    {
        await _server.DisposeAsync();
        LoggedTest.DeleteDirectory(_folder);
    }
}
