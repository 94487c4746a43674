using System.Net;
using System.Net.Http;
using Xunit.Abstractions;

namespace Warren.SecurityTests.Harness;

/// <summary>
/// Base of every security test: one attack per test against an edge from the shared <see cref="WarrenHarness"/>,
/// with a legitimate agent ("good", token granted only <see cref="GoodHost"/>) already serving through a pinned TLS
/// link, and a legitimate transfer (<see cref="StartTransferAsync"/>) that must survive the attack intact.
/// </summary>
public abstract class SecurityTest : LoggedTest
{
    public const string GoodHost = "good.test";
    public const string GoodTokenName = "good";

    protected SecurityTest(ITestOutputHelper output)
        : base(output)
    {
        // A fixed 32 KiB receive buffer: the paced transfer then holds its response back through the edge and
        // the tunnel instead of the kernel soaking up megabytes, so it stays in flight during the attack.
        Client = TestClients.Create(receiveBufferSize: 32 * 1024, timeout: TimeSpan.FromSeconds(30));
        OnEnd(Client.Dispose);
    }

    /// <summary>The legitimate client: the paced transfer and the plain requests of the tests.</summary>
    private protected HttpClient Client { get; }

    /// <summary>A fresh edge with the good agent serving web on <see cref="GoodHost"/>; stopped when the test ends.</summary>
    private protected async Task<WarrenHarness> StartEdgeAsync(HarnessOptions? options = null) =>
        Own(await WarrenHarness.StartAsync(Log, (options ?? new HarnessOptions()) with
        {
            TokenName = GoodTokenName,
            AllowHosts = [GoodHost],
            AgentName = "good-agent",
            Services = h => [h.HttpService("web", GoodHost)],
        }));

    /// <summary>A hand-driven agent on <paramref name="edge"/>'s agents port, its certificate pinned.</summary>
    private protected static Task<RawAgent> ConnectRawAsync(WarrenHarness edge, IPAddress? source = null) =>
        RawAgent.ConnectAsync(edge.Edge.AgentsPort, edge.Fingerprint, edge.Log.Factory.CreateLogger("raw-agent"), source: source);

    /// <summary>GET <paramref name="path"/> from <paramref name="host"/> through the edge: the status and the body.</summary>
    private protected async Task<(HttpStatusCode Status, string Body)> GetAsync(WarrenHarness edge, string host, string path, Action<HttpRequestMessage>? configure = null)
    {
        using var request = edge.Request(HttpMethod.Get, path, host);
        configure?.Invoke(request);
        using var response = await Client.SendAsync(request);
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    /// <summary>Starts the legitimate transfer (5 MiB from the good agent's service) that runs during the attack.</summary>
    private protected Task<PacedDownload> StartTransferAsync(WarrenHarness edge, long size = 5 * 1024 * 1024) =>
        PacedDownload.StartAsync(Client, edge.Url($"/bytes/{size}"), GoodHost, size);

    /// <summary>After the attack: the edge still serves a fresh request for the good agent, intact.</summary>
    private protected async Task AssertStillServesAsync(WarrenHarness edge)
    {
        var (status, body) = await GetAsync(edge, GoodHost, "/bytes/100000");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(100_000, body.Length);
    }

}
