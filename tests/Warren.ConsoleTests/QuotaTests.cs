using System.Net;
using System.Net.Http;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using Warren.Configuration;
using Xunit.Abstractions;

namespace Warren.ConsoleTests;

/// <summary>Byte quotas per token (docs/console.md, "Quotas"): refused with the documented 429, counts kept across a restart.</summary>
public sealed partial class QuotaTests(ITestOutputHelper output) : LoggedTest(output)
{
    private static readonly string AdminToken = "adm-" + WarrenHarness.NewToken();

    [Fact]
    public async Task Over_its_quota_a_tokens_new_tcp_connections_are_refused_and_its_http_requests_get_the_documented_429()
    {
        var edgePort = ReservePort();
        var edge = Own(await WarrenHarness.StartAsync(Log, new HarnessOptions
        {
            AllowPorts = [edgePort],
            Services = h => [h.HttpService("app", WarrenHarness.AppHost), new ServiceConfig { Name = "echo", Port = edgePort, Target = new Uri($"tcp://127.0.0.1:{h.TcpEcho.Port}") }],
            ConfigureEdge = c => c with { AdminToken = AdminToken, Tokens = [c.Tokens[0] with { Quota = new QuotaConfig { Daily = QuotaConfig.Minimum } }, .. c.Tokens.Skip(1)] },
        }));
        // 600 kB each way through the echo: 1.2 MB counted, over the 1 MB quota. The connection itself is not cut.
        Assert.True(await EchoAsync(edgePort, 600_000), "the first connection echoes everything");

        await Wait.UntilAsync(async () => !await EchoAsync(edgePort, 1), "a new TCP connection of the token is refused");
        var rows = Array.Empty<System.Text.Json.JsonElement>();
        await Wait.UntilAsync(async () => (rows = await ConsoleClient.SearchAsync(edge, AdminToken, "service=echo&status=error")).Length > 0, "the refusal is in the request log");
        Assert.Equal("tcp", rows[0].GetProperty("kind").GetString());
        Assert.Equal("quota_exceeded", rows[0].GetProperty("error").GetString());

        // The same token's HTTP service answers with the body docs/console.md shows.
        using var refused = await edge.GetAsync("/");
        Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
        Assert.Equal("text/plain; charset=utf-8", refused.Content.Headers.ContentType?.ToString());
        Assert.Matches(RefusalBody(), await refused.Content.ReadAsStringAsync());
        Assert.InRange(refused.Headers.RetryAfter!.Delta!.Value, TimeSpan.FromSeconds(1), TimeSpan.FromDays(1)); // until the UTC day ends
    }

    [Fact]
    public async Task At_80_percent_of_its_quota_a_token_is_warned_once_in_the_log_and_on_the_traffic_page_and_still_served()
    {
        var edge = Own(await WarrenHarness.StartAsync(Log, new HarnessOptions
        {
            ConfigureEdge = c => c with { AdminToken = AdminToken, Tokens = [c.Tokens[0] with { Quota = new QuotaConfig { Daily = QuotaConfig.Minimum } }, .. c.Tokens.Skip(1)] },
        }));
        Assert.DoesNotContain("over 80 %", await TrafficRowTextAsync(edge), StringComparison.Ordinal);
        using (var response = await edge.GetAsync("/bytes/850000"))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal(850_000, (await response.Content.ReadAsByteArrayAsync()).Length);
        }
        var warning = await Log.WaitForAsync(TimeSpan.FromSeconds(30), "Quota warning: token 'tests' has used 8", "of its daily quota");
        Assert.Contains("of 1.0 MB)", warning, StringComparison.Ordinal);
        Assert.Contains("over 80 %", await TrafficRowTextAsync(edge), StringComparison.Ordinal);

        // Still served below 100 %, and warned once per period: more traffic adds no second warning.
        var counted = await edge.MetricAsync("warren_token_bytes_total", "token=\"tests\"");
        using (var more = await edge.GetAsync("/bytes/10000"))
        {
            Assert.Equal(HttpStatusCode.OK, more.StatusCode);
            await more.Content.ReadAsByteArrayAsync();
        }
        await Wait.UntilAsync(async () => await edge.MetricAsync("warren_token_bytes_total", "token=\"tests\"") > counted + 10_000, "the next request is counted");
        Assert.Single(Log.Matching("Quota warning: token 'tests'"));
    }

    [Fact]
    public async Task A_token_over_its_daily_quota_gets_429_saying_why_and_the_count_survives_an_edge_restart()
    {
        var edge = Own(await WarrenHarness.StartAsync(Log, new HarnessOptions
        {
            ConfigureEdge = c => c with { Tokens = [c.Tokens[0] with { Quota = new QuotaConfig { Daily = QuotaConfig.Minimum } }, .. c.Tokens.Skip(1)] },
        }));
        using (var small = await edge.GetAsync("/bytes/1000"))
        {
            Assert.Equal(HttpStatusCode.OK, small.StatusCode);
        }
        // One response larger than the whole quota: it is served (quotas judge new requests), and then the token is over.
        using (var large = await edge.GetAsync($"/bytes/{QuotaConfig.Minimum + 1000}"))
        {
            Assert.Equal(HttpStatusCode.OK, large.StatusCode);
            Assert.Equal(QuotaConfig.Minimum + 1000, (await large.Content.ReadAsByteArrayAsync()).Length);
        }
        await Wait.UntilAsync(async () => await StatusAsync(edge) == HttpStatusCode.TooManyRequests, "the token's next request is refused for its quota");
        await AssertRefusedAsync(edge);

        // The count is in warren.db: a restarted edge refuses the token's requests as soon as its agent is back.
        await edge.StopEdgeAsync();
        await edge.StartEdgeAsync();
        await edge.WaitUntilServedAsync("app");
        await AssertRefusedAsync(edge);
    }

    [Fact]
    public async Task A_quota_given_through_POST_api_tokens_is_checked_listed_and_enforced()
    {
        var edge = Own(await WarrenHarness.StartAsync(Log, new HarnessOptions { ConfigureEdge = c => c with { AdminToken = AdminToken } }));
        foreach (var (body, says) in new[]
        {
            ("\"quota_daily\":\"lots\"", "quota_daily must be a size"),
            ("\"quota_monthly\":true", "quota_monthly must be a size"),
            ("\"quota_daily\":\"500kB\"", "at least 1MB"),
            ("\"quota_daily\":\"2MB\",\"quota_monthly\":1000000", "daily quota is larger than the monthly"),
        })
        {
            using var refused = await PostTokenAsync(edge, $$"""{"name":"metered","allow_hosts":["metered.test"],{{body}}}""");
            var text = await refused.Content.ReadAsStringAsync();
            Assert.True(refused.StatusCode == HttpStatusCode.BadRequest, $"{body}: {(int)refused.StatusCode} {text}");
            Assert.Contains(says, text, StringComparison.Ordinal);
        }

        string secret;
        using (var created = await PostTokenAsync(edge, """{"name":"metered","allow_hosts":["metered.test"],"quota_daily":"1MB","quota_monthly":50000000}"""))
        {
            var text = await created.Content.ReadAsStringAsync();
            Assert.True(created.StatusCode == HttpStatusCode.Created, $"{(int)created.StatusCode} {text}");
            secret = System.Text.Json.JsonDocument.Parse(text).RootElement.GetProperty("token").GetString()!;
        }
        using (var list = await ConsoleClient.GetWithBearerAsync(edge.Client, $"http://127.0.0.1:{edge.Edge.AdminPort}/api/tokens", AdminToken))
        {
            var metered = System.Text.Json.JsonDocument.Parse(await list.Content.ReadAsStringAsync()).RootElement.EnumerateArray().Single(t => t.GetProperty("name").GetString() == "metered");
            Assert.Equal(1_000_000, metered.GetProperty("quota_daily").GetInt64());
            Assert.Equal(50_000_000, metered.GetProperty("quota_monthly").GetInt64());
        }

        // The token's agent publishes a service; past 1 MB in a day its requests are refused.
        await edge.StartOtherAgentAsync(secret, "metered-agent", [edge.HttpService("metered", "metered.test")]);
        using (var large = await edge.GetAsync("/bytes/1100000", "metered.test"))
        {
            Assert.Equal(HttpStatusCode.OK, large.StatusCode);
            await large.Content.ReadAsByteArrayAsync();
        }
        await Wait.UntilAsync(async () =>
        {
            using var response = await edge.GetAsync("/", "metered.test");
            return response.StatusCode == HttpStatusCode.TooManyRequests;
        }, "the metered token's requests are refused for its daily quota");
        using (var other = await edge.GetAsync("/"))
        {
            Assert.Equal(HttpStatusCode.OK, other.StatusCode); // another token's service is not affected
        }
    }

    private static async Task<HttpResponseMessage> PostTokenAsync(WarrenHarness edge, string json)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, $"http://127.0.0.1:{edge.Edge.AdminPort}/api/tokens")
        {
            Content = new StringContent(json, System.Text.Encoding.UTF8, "application/json"),
        };
        request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", AdminToken);
        return await edge.Client.SendAsync(request);
    }

    /// <summary>Sends <paramref name="size"/> bytes through the TCP echo; false when the edge refused or cut the connection.</summary>
    private static async Task<bool> EchoAsync(int port, int size)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port));
            var sender = socket.SendAsync(new byte[size], SocketFlags.None);
            var buffer = new byte[64 * 1024];
            for (var echoed = 0; echoed < size;)
            {
                var n = await socket.ReceiveAsync(buffer, SocketFlags.None);
                if (n == 0)
                {
                    return false;
                }
                echoed += n;
            }
            await sender;
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    /// <summary>The tests token's row on the Traffic page, entities decoded.</summary>
    private static async Task<string> TrafficRowTextAsync(WarrenHarness edge)
    {
        using var response = await ConsoleClient.GetWithBearerAsync(edge.Client, $"http://127.0.0.1:{edge.Edge.AdminPort}/console/traffic", AdminToken);
        var html = WebUtility.HtmlDecode(await response.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var row = TokenRow().Match(html);
        Assert.True(row.Success, "the Traffic page has a row for the token");
        return row.Value;
    }

    [GeneratedRegex(@"^Quota exceeded: token 'tests' has used \d+\.\d [kMG]?B of its daily quota of 1\.0 MB; it resets at \d{4}-\d\d-\d\d 00:00 UTC\.\n$")]
    private static partial Regex RefusalBody();

    [GeneratedRegex("<tr data-token=\"tests\">.*?</tr>", RegexOptions.Singleline)]
    private static partial Regex TokenRow();

    private static async Task<HttpStatusCode> StatusAsync(WarrenHarness edge)
    {
        using var response = await edge.GetAsync("/");
        return response.StatusCode;
    }

    private static async Task AssertRefusedAsync(WarrenHarness edge)
    {
        using var refused = await edge.GetAsync("/");
        Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
        var body = await refused.Content.ReadAsStringAsync();
        Assert.Contains("daily", body, StringComparison.Ordinal);
        Assert.Contains("tests", body, StringComparison.Ordinal); // names the token
        Assert.True(refused.Headers.RetryAfter?.Delta > TimeSpan.Zero, "a Retry-After until the day ends");
    }
}
