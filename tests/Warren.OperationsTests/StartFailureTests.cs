using System.Net;
using System.Net.Sockets;
using Warren.Edge;
using Xunit.Abstractions;

namespace Warren.OperationsTests;

/// <summary>
/// An edge whose start fails part way (stopped while starting, as Ctrl+C during `warren demo` does) takes down what it
/// had built: no listener left accepting, no store left writing to the data directory.
/// </summary>
public sealed class StartFailureTests(ITestOutputHelper output) : LoggedTest(output)
{
    [Fact]
    [System.Runtime.Versioning.SupportedOSPlatform("linux")] // /proc/self/fd
    public async Task A_start_stopped_part_way_leaves_no_listener_and_no_file_of_its_data_directory_open()
    {
        var data = TempDirectory();
        var agentsPort = ReservePort();
        var config = WarrenHarness.LoopbackEdgeConfig(data, [WarrenHarness.Grant("tests", WarrenHarness.NewToken(), ["app.test"])],
            c => c with { Listen = c.Listen with { Agents = $"127.0.0.1:{agentsPort}" } });
        using var stopped = new CancellationTokenSource();
        await stopped.CancelAsync();

        // Everything is built and the agent listener accepts before the public listeners start; the stop comes there.
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => EdgeServer.StartAsync(config, Log.Factory, cancellationToken: stopped.Token));

        Assert.False(Accepts(agentsPort), $"something still accepts agents on port {agentsPort} after the failed start");
        var open = OpenFilesUnder(data);
        Assert.True(open.Count == 0, "files of the data directory still open after the failed start: " + string.Join(", ", open));
        Directory.Delete(data, recursive: true); // what `warren demo` does next
        Directory.CreateDirectory(data);

        // The same ports and data directory start an edge at once.
        await using var edge = await EdgeServer.StartAsync(config, Log.Factory);
        Assert.Equal(agentsPort, edge.AgentsPort);
        Assert.True(Accepts(agentsPort));
    }

    [Fact]
    public async Task An_upgrade_whose_new_edge_fails_to_start_leaves_the_old_edge_accepting_on_its_sockets()
    {
        // docs/operations.md, "Upgrading the edge": the new edge takes the running one's listening sockets over before
        // it starts. If its start fails, taking down what it had built must not close those sockets under the old edge.
        var data = TempDirectory();
        var config = WarrenHarness.LoopbackEdgeConfig(data, [WarrenHarness.Grant("tests", WarrenHarness.NewToken(), ["app.test"])]);
        await using var old = await EdgeServer.StartAsync(config, Log.Factory, new EdgeServerOptions { Upgrades = true });
        var httpPort = old.HttpPort!.Value;
        using var stopped = new CancellationTokenSource();
        await stopped.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => EdgeServer.StartAsync(config, Log.Factory, new EdgeServerOptions { Upgrades = true }, stopped.Token));
        Assert.Contains(Log.Lines, l => l.Contains("took over", StringComparison.Ordinal)); // the sockets were the old edge's

        Assert.True(Accepts(old.AgentsPort), "the old edge's agent listener stopped accepting");
        for (var i = 0; i < 3; i++)
        {
            using var http = new HttpClient();
            using var answer = await http.SendAsync(new HttpRequestMessage(HttpMethod.Get, $"http://127.0.0.1:{httpPort}/") { Headers = { Host = "unknown.test" } });
            Assert.Equal(HttpStatusCode.NotFound, answer.StatusCode); // the old edge answers: no such service
        }
    }

    private static bool Accepts(int port)
    {
        using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            probe.Connect(new IPEndPoint(IPAddress.Loopback, port));
            return true;
        }
        catch (SocketException ex) when (ex.SocketErrorCode == SocketError.ConnectionRefused)
        {
            return false;
        }
    }

    private static List<string> OpenFilesUnder(string directory)
    {
        var prefix = Path.GetFullPath(directory).TrimEnd('/') + "/";
        var open = new List<string>();
        foreach (var fd in Directory.EnumerateFileSystemEntries("/proc/self/fd"))
        {
            try
            {
                if (new FileInfo(fd).LinkTarget is { } target && target.StartsWith(prefix, StringComparison.Ordinal))
                {
                    open.Add(target);
                }
            }
            catch (IOException)
            {
                // The descriptor closed while we looked.
            }
        }
        return open;
    }
}
