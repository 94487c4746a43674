using System.Net;
using System.Security.Cryptography;
using Warren.Agent;
using Xunit.Abstractions;

namespace Warren.FunctionalTests;

/// <summary>
/// Sealed records after the link's TLS handshake (docs/protocol.md §1.1) are agreed only when both ends allow them:
/// either side's <c>sealed_records: false</c> keeps the link on TLS for its whole life, and traffic crosses it the
/// same way in both directions.
/// </summary>
public sealed class LinkRecordsTests(ITestOutputHelper output) : LoggedTest(output)
{
    public static TheoryData<bool, bool> OneSideOff => new() { { false, true }, { true, false } };

    [Theory]
    [MemberData(nameof(OneSideOff))]
    public async Task Either_side_turning_sealed_records_off_keeps_the_link_on_TLS(bool edgeSealed, bool agentSealed)
    {
        await using var tunnel = await WarrenHarness.StartAsync(Log, new HarnessOptions
        {
            ConfigureEdge = edge => edge with { AgentTls = edge.AgentTls with { SealedRecords = edgeSealed } },
            ConfigureAgent = agent => agent with { SealedRecords = agentSealed },
        });

        await AssertBothEndsSayAsync(tunnel, "TLS", not: "sealed records");
        await AssertTrafficCrossesBothWaysAsync(tunnel);
    }

    [Fact]
    public async Task Both_sides_allowing_them_agree_sealed_records()
    {
        await using var tunnel = await WarrenHarness.StartAsync(Log);

        await AssertBothEndsSayAsync(tunnel, "sealed records", not: "TLS");
        await AssertTrafficCrossesBothWaysAsync(tunnel);
    }

    [Fact]
    public async Task A_reload_that_turns_sealed_records_off_names_it_as_needing_a_restart_and_keeps_the_session()
    {
        await using var tunnel = await WarrenHarness.StartAsync(Log, new HarnessOptions { StartAgent = false });
        var next = tunnel.AgentConfig();
        await using var agent = new WarrenAgent(next, Log.Factory, new WarrenAgentOptions { ReloadSource = () => next });
        agent.Start();
        await Wait.UntilAsync(() => agent.IsReady, "the agent registered its service");
        var session = Assert.Single(tunnel.Edge.State.Sessions).Id;

        next = next with { SealedRecords = false };
        var result = await agent.ReloadAsync();

        Assert.True(result.Ok, result.ToString());
        Assert.Equal(["sealed_records"], result.RestartRequired);
        Assert.True(agent.Config.SealedRecords); // what the running links were made with
        Assert.Equal(session, Assert.Single(tunnel.Edge.State.Sessions).Id);
        await AssertBothEndsSayAsync(tunnel, "sealed records", not: "TLS");
    }

    /// <summary>
    /// The agent's log (written just after it is ready, so waited for), the edge's log and its admin API all name
    /// <paramref name="link"/>, and nothing names <paramref name="not"/>.
    /// </summary>
    private async Task AssertBothEndsSayAsync(WarrenHarness tunnel, string link, string not)
    {
        await Log.WaitForAsync(TestTimeout, "connected to", $"over {link}");
        Assert.Single(Log.Matching("connected to", $"over {link}"));
        Assert.Empty(Log.Matching("connected to", $"over {not}"));
        Assert.Single(Log.Matching("authenticated with token", $"over {link}"));
        Assert.Equal(link, Assert.Single((await tunnel.StatusAsync()).Sessions).Link);
    }

    /// <summary>A 4 MiB download checked byte by byte and a 3 MiB upload hashed by the service: several records each way.</summary>
    private static async Task AssertTrafficCrossesBothWaysAsync(WarrenHarness tunnel)
    {
        const int size = 4 * 1024 * 1024;
        using (var download = await tunnel.GetAsync($"/bytes/{size}"))
        {
            Assert.Equal(HttpStatusCode.OK, download.StatusCode);
            var body = await download.Content.ReadAsByteArrayAsync();
            Assert.Equal(size, body.Length);
            var verifier = new Mod251Verifier();
            verifier.Check(body);
            Assert.Equal(size, verifier.Verified);
        }

        var sent = new byte[3 * 1024 * 1024];
        Random.Shared.NextBytes(sent);
        using var request = tunnel.Request(HttpMethod.Post, "/sha256");
        request.Content = new ByteArrayContent(sent);
        using var upload = await tunnel.Client.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, upload.StatusCode);
        Assert.Equal($"{Convert.ToHexStringLower(SHA256.HashData(sent))} {sent.Length}", await upload.Content.ReadAsStringAsync());
    }
}
