using System.Globalization;
using System.Net.Http;
using Warren.Configuration;
using Warren.Testing.Servers;

namespace Warren.OperationsTests.Harness;

/// <summary>
/// The real clients issue 16 restarts and upgrades under (docs/operations.md, "Restarts and upgrades"), each through
/// a Warren service: an HTTP request loop (service app), an SSH session that stays open and an ssh login loop (a TCP
/// service to Debian's sshd), pgbench with a new connection per transaction (a TCP service to PostgreSQL), and an
/// MQTT QoS 1 subscriber and publisher (a TCP service to mosquitto). <see cref="StartServersAsync"/> starts the
/// servers; <see cref="Services"/> are what the agent publishes; <see cref="StartClients"/> starts the load;
/// <see cref="AssertNothingFailedAsync"/> stops it and checks that no request failed, no connection was refused or
/// reset, and no MQTT message was lost.
/// </summary>
internal sealed class ClientMix : IAsyncDisposable
{
    private readonly TestLog _log;
    private readonly SshServer _ssh;
    private readonly PostgresServer _postgres;
    private readonly MosquittoServer _mqtt;
    private readonly List<IAsyncDisposable> _clients = [];
    private ExternalProcess? _session;

    private ClientMix(TestLog log, SshServer ssh, PostgresServer postgres, MosquittoServer mqtt, (int Ssh, int Db, int Mqtt) ports)
    {
        (_log, _ssh, _postgres, _mqtt) = (log, ssh, postgres, mqtt);
        (SshPort, DbPort, MqttPort) = ports;
    }

    /// <summary>The edge's public port for sshd.</summary>
    public int SshPort { get; }

    /// <summary>The edge's public port for PostgreSQL.</summary>
    public int DbPort { get; }

    /// <summary>The edge's public port for mosquitto.</summary>
    public int MqttPort { get; }

    public RequestLoop Requests { get; private set; } = null!;
    public CommandLoop Pgbench { get; private set; } = null!;
    public CommandLoop SshLogins { get; private set; } = null!;
    public MqttLoop Mqtt { get; private set; } = null!;

    private static string PgbenchFile => Path.Combine(PostgresServer.BinDirectory, "pgbench");

    /// <summary>
    /// Starts sshd, PostgreSQL (its pgbench tables made directly, not through Warren) and mosquitto on the reserved
    /// <paramref name="serverPorts"/>; <paramref name="publicPorts"/> are the ones the edge will publish them on.
    /// </summary>
    public static async Task<ClientMix> StartServersAsync(TestLog log, (int Ssh, int Db, int Mqtt) serverPorts, (int Ssh, int Db, int Mqtt) publicPorts)
    {
        var ssh = await SshServer.StartAsync(log, serverPorts.Ssh);
        PostgresServer? postgres = null;
        try
        {
            postgres = await PostgresServer.StartAsync(log, serverPorts.Db);
            var (init, output) = await ExternalProcess.RunAsync(log, "pgbench-init", PgbenchFile,
                ["-i", "-q", "-h", "127.0.0.1", "-p", serverPorts.Db.ToString(CultureInfo.InvariantCulture), "-U", "postgres", "postgres"], TimeSpan.FromMinutes(3));
            Assert.True(init == 0, "pgbench -i failed: " + output);
            var mqtt = await MosquittoServer.StartAsync(log, serverPorts.Mqtt);
            return new ClientMix(log, ssh, postgres, mqtt, publicPorts);
        }
        catch
        {
            if (postgres is not null)
            {
                await postgres.DisposeAsync();
            }
            await ssh.DisposeAsync();
            throw;
        }
    }

    /// <summary>What the agent publishes: app.test on <paramref name="httpBackend"/>, and a TCP port for each server.</summary>
    public IReadOnlyList<ServiceConfig> Services(Uri httpBackend) =>
    [
        new() { Name = "app", Hostnames = [WarrenHarness.AppHost], Target = httpBackend },
        new() { Name = "ssh", Port = SshPort, Target = new Uri($"tcp://127.0.0.1:{_ssh.Port}") },
        new() { Name = "db", Port = DbPort, Target = new Uri($"tcp://127.0.0.1:{_postgres.Port}") },
        new() { Name = "mqtt", Port = MqttPort, Target = new Uri($"tcp://127.0.0.1:{_mqtt.Port}") },
    ];

    /// <summary>Starts every client; returns once each has done some work (the SSH session is open).</summary>
    public async Task StartClients(HttpClient client, Func<HttpRequestMessage> request)
    {
        Requests = Add(RequestLoop.Start(client, request, _log, workers: 1));
        var db = DbPort.ToString(CultureInfo.InvariantCulture);
        // -C: a new connection for every transaction, so new TCP connections arrive throughout the restart.
        Pgbench = Add(CommandLoop.Start(_log, "pgbench", PgbenchFile, ["-C", "-S", "-n", "-t", "10", "-c", "2", "-h", "127.0.0.1", "-p", db, "-U", "postgres", "postgres"]));
        SshLogins = Add(CommandLoop.Start(_log, "ssh-login", "ssh", [.. _ssh.ClientArguments(SshPort, "true")]));
        Mqtt = Add(MqttLoop.Start(MqttPort, _log));
        // A session that only the drain ends (sleep outlives the test).
        _session = ExternalProcess.Start(_log, "ssh-session", "ssh", _ssh.ClientArguments(SshPort, "echo session-up; exec sleep 600"));
        _clients.Add(_session);
        await Wait.UntilAsync(() => _session.Output.Contains("session-up", StringComparison.Ordinal) || _session.HasExited, "the SSH session is open", TimeSpan.FromSeconds(60));
        Assert.False(_session.HasExited, "the SSH session ended at once: " + _session.Output);
        await WaitForProgressAsync("before");
    }

    /// <summary>Waits until every loop did more work (the load really ran across the event).</summary>
    public async Task WaitForProgressAsync(string when)
    {
        await Task.WhenAll(
            Requests.WaitForMoreAsync(20, $"HTTP requests are answered {when}"),
            Pgbench.WaitForMoreAsync(2, $"pgbench runs {when}"),
            SshLogins.WaitForMoreAsync(2, $"ssh logs in {when}"),
            Mqtt.WaitForMoreAsync(20, $"MQTT messages are published and received {when}"));
    }

    /// <summary>
    /// Waits for the long streams to end, as only the drain ends them: the SSH session and both MQTT clients'
    /// connections. Each must have been closed cleanly (a FIN), not reset.
    /// </summary>
    public async Task AssertLongStreamsClosedCleanlyAsync()
    {
        var code = await _session!.WaitForExitAsync(TimeSpan.FromSeconds(120));
        var output = _session.Output;
        // ssh exits 255 when the connection ends under it; a FIN reads "closed by remote host", a reset "Connection reset by peer".
        Assert.True(code == 255 && output.Contains("closed by remote host", StringComparison.Ordinal), $"ssh session: exit {code}: {output}");
        Assert.DoesNotContain("reset", output, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("Broken pipe", output, StringComparison.Ordinal);
        await Mqtt.WaitForCleanClosesAsync(2, "the MQTT subscriber's and publisher's connections were closed");
    }

    /// <summary>Stops the load and asserts that nothing failed and the subscriber got every message the broker acknowledged.</summary>
    public async Task AssertNothingFailedAsync()
    {
        var published = await Mqtt.StopPublishingAsync();
        // QoS 1 with a persistent session: what the broker acknowledged arrives, across every reconnect.
        try
        {
            await Wait.UntilAsync(() => Mqtt.Missing(published).Count == 0 || Mqtt.Failures.Count > 0, "the subscriber received every published message", TimeSpan.FromSeconds(60));
        }
        catch (TimeoutException ex)
        {
            var missing = Mqtt.Missing(published);
            throw new TimeoutException($"{ex.Message}: {missing.Count} of {published} missing, the first {string.Join(", ", missing.Take(20))}", ex);
        }
        await StopClientsAsync();
        _log.Note($"mix: {Requests.Ok} HTTP requests, {Pgbench.Ok} pgbench runs, {SshLogins.Ok} ssh logins, {published} MQTT messages, {Mqtt.CleanCloses} MQTT connections closed cleanly");
        Assert.Empty(Requests.Failures);
        Assert.Empty(Pgbench.Failures);
        Assert.Empty(SshLogins.Failures);
        Assert.Empty(Mqtt.Failures);
        Assert.Empty(Mqtt.Missing(published));
    }

    /// <summary>
    /// Stops every client, last started first, even when one fails to stop: a loop left running after a failed test
    /// went on starting pgbench and ssh against closed ports every few milliseconds, and its thousands of log lines
    /// pushed the failure out of the CI log's tail.
    /// </summary>
    private async Task StopClientsAsync()
    {
        List<Exception> errors = [];
        foreach (var client in Enumerable.Reverse(_clients))
        {
            try
            {
                await client.DisposeAsync();
            }
            catch (Exception ex)
            {
                _log.Note($"mix: stopping {client.GetType().Name} failed: {ex.GetType().Name}: {ex.Message}");
                errors.Add(ex);
            }
        }
        _clients.Clear();
        if (errors.Count > 0)
        {
            throw new AggregateException("stopping the client mix failed", errors);
        }
    }

    private T Add<T>(T client)
        where T : IAsyncDisposable
    {
        _clients.Add(client);
        return client;
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await StopClientsAsync();
        }
        finally
        {
            // Side by side: one after another (each up to 15 s before its kill) they could outlast LoggedTest's 30 s
            // cleanup budget, and a test host that exits before the last one stops leaves it running (an orphaned
            // sshd was found after a CI run, its folder not deleted, PostgreSQL and mosquitto stopped).
            await Task.WhenAll(_mqtt.DisposeAsync().AsTask(), _postgres.DisposeAsync().AsTask(), _ssh.DisposeAsync().AsTask());
        }
    }
}
