using System.Globalization;
using Warren.Testing.Logging;

namespace Warren.Testing.Servers;

/// <summary>
/// A throwaway MQTT broker (Debian's mosquitto; .ci/run installs it) on 127.0.0.1: anonymous clients, sessions kept
/// in memory for as long as it runs, and no cap on the QoS 1 messages it queues for a persistent session while its
/// client is away (mosquitto's default drops past 1000), so a test can count on every message arriving.
/// </summary>
internal sealed class MosquittoServer : IAsyncDisposable
{
    private readonly ExternalProcess _server;
    private readonly string _folder;

    private MosquittoServer(ExternalProcess server, string folder, int port) => (_server, _folder, Port) = (server, folder, port);

    public int Port { get; }

    /// <summary>Starts mosquitto on <paramref name="port"/> (a reserved one: mosquitto binds with SO_REUSEADDR) and waits until it runs.</summary>
    public static async Task<MosquittoServer> StartAsync(TestLog log, int port)
    {
        var folder = Directory.CreateTempSubdirectory("warren-mqtt-").FullName;
        var config = Path.Combine(folder, "mosquitto.conf");
        await File.WriteAllTextAsync(config, string.Create(CultureInfo.InvariantCulture, $"""
            listener {port} 127.0.0.1
            allow_anonymous true
            persistence false
            max_queued_messages 0
            log_dest stderr
            log_type error
            log_type warning
            log_type notice
            log_type information

            """));
        var server = ExternalProcess.Start(log, "mosquitto", "mosquitto", ["-c", config]);
        var broker = new MosquittoServer(server, folder, port);
        try
        {
            await Wait.UntilAsync(() => server.Output.Contains(" running", StringComparison.Ordinal) || server.HasExited,
                "mosquitto to run", TimeSpan.FromSeconds(30));
            if (server.HasExited)
            {
                throw new InvalidOperationException("mosquitto exited: " + server.Output);
            }
        }
        catch
        {
            await broker.DisposeAsync();
            throw;
        }
        return broker;
    }

    public async ValueTask DisposeAsync()
    {
        await _server.DisposeAsync();
        LoggedTest.DeleteDirectory(_folder);
    }
}
