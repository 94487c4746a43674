using System.Net;
using System.Net.Http;
using System.Diagnostics;
using Xunit.Abstractions;

namespace Warren.FunctionalTests;

/// <summary>The agent as a real process (the built warren CLI), killed the way a crash or kill -9 would.</summary>
public sealed class AgentProcessTests(ITestOutputHelper output) : LoggedTest(output)
{
    [Fact]
    public async Task Agent_killed_mid_download_fails_the_client_promptly_then_503_then_traffic_resumes_after_restart()
    {
        await using var tunnel = await WarrenHarness.StartAsync(Log, new HarnessOptions { StartAgent = false });
        var yaml = tunnel.WriteAgentYaml();

        var agent = WarrenProcess.Start(Log, "agent#1", "agent", "--config", yaml);
        await using (agent)
        {
            await tunnel.WaitUntilServedAsync("app", TimeSpan.FromSeconds(30));
            using (var ok = await tunnel.GetAsync("/echo"))
            {
                Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
            }

            // 2 GB: far more than will ever be transferred before the kill.
            const long size = 2_000_000_000;
            using var request = tunnel.Request(HttpMethod.Get, $"/bytes/{size}");
            using var response = await tunnel.Client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            await using var body = await response.Content.ReadAsStreamAsync();
            var verifier = new Mod251Verifier();
            var buffer = new byte[64 * 1024];
            while (verifier.Verified < 16 * 1024 * 1024)
            {
                var n = await body.ReadAsync(buffer);
                Assert.True(n > 0, $"the download ended after {verifier.Verified} bytes, before the agent was killed");
                verifier.Check(buffer.AsSpan(0, n));
            }

            Log.Note($"killing the agent process after {verifier.Verified} bytes");
            agent.Kill();
            var killedAt = Stopwatch.StartNew();

            // The client must see an error: not a hang, and never a clean (truncated) end of the body.
            using var hang = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            Exception? failure = null;
            try
            {
                int n;
                while ((n = await body.ReadAsync(buffer, hang.Token)) > 0)
                {
                    verifier.Check(buffer.AsSpan(0, n));
                }
            }
            catch (OperationCanceledException) when (hang.IsCancellationRequested)
            {
                Assert.Fail($"the client's read was still waiting 30 s after the agent was killed ({verifier.Verified} bytes read)");
            }
            catch (Exception ex) when (ex is IOException or HttpRequestException)
            {
                failure = ex;
            }
            Assert.True(failure is not null, $"the download completed cleanly after {verifier.Verified} of {size} bytes although the agent was killed");
            Assert.True(verifier.Verified < size);
            Log.Note($"the client's read failed {killedAt.Elapsed.TotalSeconds:0.00} s after the kill: {failure.GetType().Name}: {failure.Message}");
        }

        await tunnel.WaitUntilNoSessionAsync();
        using (var gone = await tunnel.GetAsync("/echo"))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, gone.StatusCode);
        }

        await using var restarted = WarrenProcess.Start(Log, "agent#2", "agent", "--config", yaml);
        await tunnel.WaitUntilServedAsync("app", TimeSpan.FromSeconds(30));
        using var resumed = await tunnel.GetAsync("/echo?after=restart");
        Assert.Equal(HttpStatusCode.OK, resumed.StatusCode);
        Assert.StartsWith("GET /echo?after=restart\n", await resumed.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }
}
