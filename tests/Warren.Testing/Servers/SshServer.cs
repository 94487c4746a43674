using System.Globalization;
using Warren.Testing.Logging;

namespace Warren.Testing.Servers;

/// <summary>
/// OpenSSH's sshd (Debian's openssh-server; .ci/run installs it) on 127.0.0.1 with its own configuration, host key
/// and one client key in a temporary folder: key login for the user the tests run as, nothing else.
/// </summary>
internal sealed class SshServer : IAsyncDisposable
{
    private readonly ExternalProcess _server;

    private SshServer(ExternalProcess server, string folder, int port) => (_server, Folder, Port) = (server, folder, port);

    public int Port { get; }

    public string Folder { get; }

    /// <summary>The private key that logs in (ssh -i).</summary>
    public string ClientKey => Path.Combine(Folder, "client_key");

    /// <summary>Starts sshd on <paramref name="port"/> (a reserved one: sshd binds with SO_REUSEADDR) and waits until it listens.</summary>
    public static async Task<SshServer> StartAsync(TestLog log, int port)
    {
        var folder = Directory.CreateTempSubdirectory("warren-ssh-").FullName;
        foreach (var key in new[] { "host_key", "client_key" })
        {
            var (code, output) = await ExternalProcess.RunAsync(log, "ssh-keygen", "ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", Path.Combine(folder, key)], TimeSpan.FromSeconds(30));
            if (code != 0)
            {
                throw new InvalidOperationException("ssh-keygen failed: " + output);
            }
        }
        File.Copy(Path.Combine(folder, "client_key.pub"), Path.Combine(folder, "authorized_keys"));
        var config = Path.Combine(folder, "sshd_config");
        await File.WriteAllTextAsync(config, string.Create(CultureInfo.InvariantCulture, $"""
            Port {port}
            ListenAddress 127.0.0.1
            HostKey {folder}/host_key
            AuthorizedKeysFile {folder}/authorized_keys
            PidFile {folder}/sshd.pid
            PasswordAuthentication no
            KbdInteractiveAuthentication no
            UsePAM no
            StrictModes no
            PermitRootLogin prohibit-password
            AllowUsers {Environment.UserName}

            """));
        if (Environment.UserName == "root")
        {
            Directory.CreateDirectory("/run/sshd"); // its privilege separation folder (the package's service makes it)
        }
        var server = ExternalProcess.Start(log, "sshd", "/usr/sbin/sshd", ["-D", "-e", "-f", config]);
        var ssh = new SshServer(server, folder, port);
        try
        {
            await Wait.UntilAsync(() => server.Output.Contains("Server listening on 127.0.0.1", StringComparison.Ordinal) || server.HasExited,
                "sshd to listen", TimeSpan.FromSeconds(30));
            if (server.HasExited)
            {
                throw new InvalidOperationException("sshd exited: " + server.Output);
            }
        }
        catch
        {
            await ssh.DisposeAsync();
            throw;
        }
        return ssh;
    }

    /// <summary>
    /// ssh's arguments to run <paramref name="command"/> on 127.0.0.1:<paramref name="port"/> with the client key,
    /// trusting any host key. The host keys it learns go to a file of this server's folder, never to /dev/null: ssh
    /// writes there, and on a machine where /dev/null was ever replaced by a plain file that file would be shared by all.
    /// </summary>
    public IEnumerable<string> ClientArguments(int port, string command) =>
    [
        "-F", "/dev/null", "-p", port.ToString(CultureInfo.InvariantCulture), "-i", ClientKey, "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
        "-o", "StrictHostKeyChecking=no", "-o", $"UserKnownHostsFile={Folder}/known_hosts", "-o", "UpdateHostKeys=no", "-o", "ConnectTimeout=20", $"{Environment.UserName}@127.0.0.1", command,
    ];

    public async ValueTask DisposeAsync()
    {
        await _server.DisposeAsync();
        LoggedTest.DeleteDirectory(Folder);
    }
}
