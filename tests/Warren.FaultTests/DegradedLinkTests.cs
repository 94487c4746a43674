using Warren.FaultTests.Harness;
using Xunit.Abstractions;

namespace Warren.FaultTests;

/// <summary>RELIABILITY (a) D5 (toxiproxy's latency, bandwidth and slicer): a slow or fragmenting link changes timing, never bytes.</summary>
[Collection(LoadCollection.Name)]
public sealed class DegradedLinkTests(ITestOutputHelper output) : LoggedTest(output)
{
    public static TheoryData<string, RelayMode, int> Links => new()
    {
        // link, mode, bytes each way (a sliced link does a send per 1 to 7 bytes: kept small)
        { "agent", RelayMode.Delay, 8 << 20 },
        { "agent", RelayMode.Bandwidth, 3 << 20 },
        { "agent", RelayMode.Slice, 512 << 10 },
        { "client", RelayMode.Slice, 256 << 10 },
    };

    [Theory]
    [MemberData(nameof(Links))]
    public async Task Transfers_through_a_degraded_link_complete_byte_exact(string link, RelayMode mode, int size)
    {
        await using var tunnel = await WarrenHarness.StartAsync(Log, new HarnessOptions { StartAgent = link != "agent" });
        await using var relay = FaultRelay.Start(link == "agent" ? tunnel.Edge.AgentsPort : tunnel.Edge.HttpPort!.Value, Log);
        relay.Delay = TimeSpan.FromMilliseconds(20);
        relay.BytesPerSecond = 2 << 20;
        relay.MaxSlice = 7;
        // Degraded from the first byte: on the agent link the TLS handshake and login go through it too.
        relay.Mode = mode;
        await using var agent = link == "agent" ? await PartitionTests.StartAgentThroughAsync(tunnel, relay) : null;

        var port = link == "agent" ? tunnel.Edge.HttpPort!.Value : relay.Port;
        HttpRequestMessage Request(HttpMethod method, string path)
        {
            var request = new HttpRequestMessage(method, $"http://127.0.0.1:{port}{path}");
            request.Headers.Host = WarrenHarness.AppHost;
            return request;
        }

        var timeout = TimeSpan.FromSeconds(90);
        await Transfers.AssertDownloadAsync(tunnel.Client, Request(HttpMethod.Get, $"/bytes/{size}"), size, timeout);
        await Transfers.AssertUploadAsync(tunnel.Client, Request(HttpMethod.Post, "/sha256"), size, timeout);
        Assert.True(relay.BytesForwarded >= 2L * size, $"the relay forwarded {relay.BytesForwarded} bytes, less than the {2L * size} transferred");
        Assert.All(relay.Connections, c => Assert.False(c.Blackholed));
        Log.Note($"{mode} on the {link} link: {relay.BytesForwarded} bytes forwarded over {relay.Connections.Count} connection(s)");
    }
}
