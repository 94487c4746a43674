using System.Diagnostics;
using System.Net;
using System.Security.Cryptography;
using Warren.Agent;
using Warren.Demo;
using Warren.FaultTests.Harness;
using Xunit.Abstractions;

namespace Warren.FaultTests;

/// <summary>
/// RELIABILITY (a) C4: SIGTERM (what systemd and <c>docker stop</c> send) to a real edge or agent process. An
/// in-flight server-sent-events stream finishes within the 30 s grace period; an idle process exits at once, also
/// after it has carried traffic (the edge's pooled keep-alive connections are open tunnel streams and must not hold
/// a drain for the grace period).
/// </summary>
public sealed class GracefulShutdownTests(ITestOutputHelper output) : LoggedTest(output)
{
    /// <summary>About 5 s of events after the first: longer than any fixed shutdown timeout short of the grace period.</summary>
    private const int Events = 11;
    private const int IntervalMs = 500;

    /// <summary>"At once" on a loaded test machine: well under the 30 s grace period the process would otherwise wait.</summary>
    private static readonly TimeSpan Prompt = TimeSpan.FromSeconds(15);

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task SIGTERM_to_the_edge_lets_an_in_flight_event_stream_finish_or_exits_at_once_when_idle(bool streaming)
    {
        await using var backend = await SampleHttpService.StartAsync();
        var dataDirectory = Path.Combine(Path.GetTempPath(), "warren-fault-" + Guid.NewGuid().ToString("N"));
        var token = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));
        try
        {
            await using var edge = await EdgeProcess.StartAsync(Log, "edge", dataDirectory, token);
            var service = new Warren.Configuration.ServiceConfig { Name = "app", Hostnames = [WarrenHarness.AppHost], Target = new Uri($"http://127.0.0.1:{backend.Port}") };
            await using var agent = new WarrenAgent(edge.AgentConfig(token, [service]), Log.Factory);
            agent.Start();
            await Wait.UntilAsync(() => agent.IsReady, "the agent is connected to the edge process", TimeSpan.FromSeconds(30));
            using var client = TestClients.Create();

            await ShutDownAsync(edge.Process, streaming, path => edge.Request(HttpMethod.Get, path), client);
            await Wait.UntilAsync(() => agent.ConnectedSessions == 0, "the agent saw the edge go");
        }
        finally
        {
            Directory.Delete(dataDirectory, recursive: true);
        }
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task SIGTERM_to_the_agent_lets_an_in_flight_event_stream_finish_or_exits_at_once_when_idle(bool streaming)
    {
        await using var tunnel = await WarrenHarness.StartAsync(Log, new HarnessOptions { StartAgent = false });
        await using var agent = WarrenProcess.Start(Log, "agent", "agent", "--config", tunnel.WriteAgentYaml());
        await tunnel.WaitUntilServedAsync("app", TimeSpan.FromSeconds(60));

        await ShutDownAsync(agent, streaming, path => tunnel.Request(HttpMethod.Get, path), tunnel.Client);

        await tunnel.WaitUntilNoSessionAsync();
        using var gone = await tunnel.GetAsync("/echo");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, gone.StatusCode);
    }

    /// <summary>
    /// With a stream: starts it, waits for its first event, sends SIGTERM, and asserts every event arrives and the
    /// stream ends cleanly. Without: one request leaves a pooled keep-alive connection (an open tunnel stream), then
    /// SIGTERM. Either way the process exits with 0 promptly once nothing is in flight.
    /// </summary>
    private async Task ShutDownAsync(WarrenProcess process, bool streaming, Func<string, HttpRequestMessage> request, HttpClient client)
    {
        using var giveUp = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        HttpResponseMessage? response = null;
        StreamReader? reader = null;
        try
        {
            if (streaming)
            {
                response = await client.SendAsync(request($"/stream?count={Events}&intervalMs={IntervalMs}"), HttpCompletionOption.ResponseHeadersRead, giveUp.Token);
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                reader = new StreamReader(await response.Content.ReadAsStreamAsync(giveUp.Token));
                Assert.Equal("id: 1", await reader.ReadLineAsync(giveUp.Token));
            }
            else
            {
                using var warm = await client.SendAsync(request("/echo"), giveUp.Token);
                Assert.Equal(HttpStatusCode.OK, warm.StatusCode);
            }

            var clock = Stopwatch.StartNew();
            await process.TerminateAsync();
            Log.Note($"sent SIGTERM to pid {process.Id}");

            if (reader is not null)
            {
                var ids = new List<string> { "1" };
                string? line;
                try
                {
                    while ((line = await reader.ReadLineAsync(giveUp.Token)) is not null)
                    {
                        if (line.StartsWith("id: ", StringComparison.Ordinal))
                        {
                            ids.Add(line[4..]);
                        }
                    }
                }
                catch (Exception ex) when (ex is IOException or HttpRequestException)
                {
                    Assert.Fail($"the event stream broke after {ids.Count} of {Events} events, {clock.Elapsed.TotalSeconds:0.0} s after SIGTERM: {ex.Message}");
                }
                Assert.Equal(Enumerable.Range(1, Events).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)), ids);
                Log.Note($"the event stream finished {clock.Elapsed.TotalSeconds:0.00} s after SIGTERM");
            }
            var idleSince = clock.Elapsed;

            var exitCode = await process.WaitForExitAsync(TimeSpan.FromSeconds(45));
            var exited = clock.Elapsed;
            Log.Note($"the process exited with {exitCode} {exited.TotalSeconds:0.00} s after SIGTERM ({(streaming ? "after the stream" : "idle")})");
            Assert.Equal(0, exitCode);
            Assert.True(exited - idleSince < Prompt, $"the process took {(exited - idleSince).TotalSeconds:0.0} s to exit once nothing was in flight");
        }
        finally
        {
            reader?.Dispose();
            response?.Dispose();
        }
    }
}
