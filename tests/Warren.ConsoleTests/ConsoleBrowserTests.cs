using System.Net;
using PuppeteerSharp;
using Warren.Configuration;
using Warren.Edge.Tokens;
using Xunit.Abstractions;

namespace Warren.ConsoleTests;

/// <summary>
/// The console in a real browser (Debian's chromium, headless, driven by PuppeteerSharp; .ci/run installs it): log in,
/// see the session and its service, watch the request-rate chart move, find a request in the log, inspect it, replay
/// it to the backend, revoke a token (docs/console.md). With WARREN_SCREENSHOTS set to a folder, the main pages are
/// saved there as PNGs (how docs/console-*.png are made).
/// </summary>
public sealed class ConsoleBrowserTests(ITestOutputHelper output) : LoggedTest(output)
{
    private const string Chromium = "/usr/bin/chromium";
    private static readonly string AdminToken = "adm-" + WarrenHarness.NewToken();
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task An_operator_logs_in_watches_traffic_finds_inspects_and_replays_a_request_revokes_a_token_and_creates_one_with_private_grants()
    {
        Assert.True(File.Exists(Chromium), $"{Chromium} is missing: apt-get install chromium (.ci/run does)");
        var edge = Own(await WarrenHarness.StartAsync(Log, new HarnessOptions
        {
            ConfigureEdge = c => c with { AdminToken = AdminToken, Inspector = new InspectorConfig { Services = ["app"] } },
            Store = store => store.Create("spare", ["spare.test"], [], null),
        }));
        var admin = $"http://127.0.0.1:{edge.Edge.AdminPort}";
        var browser = await Puppeteer.LaunchAsync(new LaunchOptions
        {
            ExecutablePath = Chromium,
            Headless = true,
            // Root in a container: chromium's sandbox needs user namespaces it may not have; /dev/shm may be small.
            Args = ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
            Timeout = (int)TimeSpan.FromSeconds(60).TotalMilliseconds,
        });
        Own(browser);
        var page = await browser.NewPageAsync();
        page.DefaultTimeout = (int)Patience.TotalMilliseconds;
        page.DefaultNavigationTimeout = (int)Patience.TotalMilliseconds;
        await page.SetViewportAsync(new ViewPortOptions { Width = 1280, Height = 900 });
        page.Dialog += async (_, e) => await e.Dialog.Accept(); // the revoke button asks first
        var screenshots = Environment.GetEnvironmentVariable("WARREN_SCREENSHOTS");
        async Task ShotAsync(string name)
        {
            if (!string.IsNullOrEmpty(screenshots))
            {
                await page.ScreenshotAsync(Path.Combine(screenshots, $"console-{name}.png"), new ScreenshotOptions { FullPage = true });
            }
        }

        // Not logged in: the console sends the browser to its login form.
        await page.GoToAsync(admin + "/console");
        Assert.Contains("/console/login", page.Url, StringComparison.Ordinal);
        await page.TypeAsync("#token", AdminToken);
        await Task.WhenAll(page.WaitForNavigationAsync(), page.ClickAsync("button[type=submit]"));
        Assert.Equal(admin + "/console", page.Url);

        // The overview names the session and its service.
        var overview = await page.GetContentAsync();
        Assert.Contains("test-agent", overview, StringComparison.Ordinal);
        Assert.Contains("/console/services/app", overview, StringComparison.Ordinal);

        // Requests flow; the edge's request-rate chart (fed by Server-Sent Events) moves without a reload.
        using var traffic = new CancellationTokenSource();
        var sender = Task.Run(async () =>
        {
            while (!traffic.IsCancellationRequested)
            {
                using var response = await edge.GetAsync("/", cancellationToken: traffic.Token);
                await Task.Delay(20, traffic.Token);
            }
        });
        try
        {
            await page.WaitForFunctionAsync(
                "() => { const c = window.warrenCharts && window.warrenCharts['edge|0,1']; return !!c && c.data[1].some(v => v > 0); }",
                new WaitForFunctionOptions { Timeout = (int)Patience.TotalMilliseconds, PollingInterval = 100 });
            await ShotAsync("overview");
        }
        finally
        {
            await traffic.CancelAsync();
            await Task.WhenAny(sender);
        }

        // A request just sent is in the log (searched by path) and, its service being inspected, links to the inspector.
        var marker = Guid.NewGuid().ToString("N");
        using (var sent = await edge.GetAsync($"/echo?find-{marker}"))
        {
            Assert.Equal(HttpStatusCode.OK, sent.StatusCode);
        }
        await Wait.UntilAsync(async () =>
        {
            await page.GoToAsync($"{admin}/console/requests?path=echo&service=app");
            return (await page.GetContentAsync()).Contains("inspector/", StringComparison.Ordinal);
        }, "the requests page lists the request with an inspect link", Patience);
        await ShotAsync("requests");
        await Task.WhenAll(page.WaitForNavigationAsync(), page.ClickAsync("tr[data-id] a[href^='/console/inspector/']"));
        var inspected = await page.GetContentAsync();
        Assert.Contains($"find-{marker}", inspected, StringComparison.Ordinal);
        await ShotAsync("inspector");

        // Replayed with an edited path: the backend's echo of it comes back, so it reached the backend.
        await page.EvaluateExpressionAsync($"document.querySelector('input[name=path]').value = '/echo?replayed-{marker}'");
        await Task.WhenAll(page.WaitForNavigationAsync(), page.ClickAsync("#replay"));
        var replay = await page.GetContentAsync();
        Assert.Contains($"GET /echo?replayed-{marker}", replay, StringComparison.Ordinal);

        // Revoke the stored token from the tokens page: the store says revoked.
        await page.GoToAsync(admin + "/console/tokens");
        await ShotAsync("tokens");
        await Task.WhenAll(page.WaitForNavigationAsync(), page.ClickAsync("button[data-revoke='spare']"));
        Assert.Contains("revoked", await page.EvaluateExpressionAsync<string>("document.querySelector(\"tr[data-token='spare']\").textContent"), StringComparison.Ordinal);
        using var store = new TokenStore(edge.DataDirectory);
        Assert.NotNull(Assert.Single(store.List(), t => t.Name == "spare").RevokedAt);

        // Create a token with private grants, as `warren token create --allow-private/--allow-connect` does: a bad
        // service name is refused with the rule it breaks, then the good one is created and listed with its grants.
        await page.TypeAsync("input[name=name]", "laptop");
        await page.TypeAsync("input[name=allow_connect]", "db/1");
        await Task.WhenAll(page.WaitForNavigationAsync(), page.ClickAsync("#create-token"));
        Assert.Contains("private services to reach", await page.EvaluateExpressionAsync<string>("document.querySelector('p.error').textContent"), StringComparison.Ordinal);
        await page.TypeAsync("input[name=name]", "laptop");
        await page.TypeAsync("input[name=allow_private]", "db");
        await page.TypeAsync("input[name=allow_connect]", "ssh, db");
        await Task.WhenAll(page.WaitForNavigationAsync(), page.ClickAsync("#create-token"));
        Assert.StartsWith(TokenStore.TokenPrefix, await page.EvaluateExpressionAsync<string>("document.querySelector('#new-secret').textContent"), StringComparison.Ordinal);
        Assert.Contains("publish: db; connect: ssh, db", await page.EvaluateExpressionAsync<string>("document.querySelector(\"tr[data-token='laptop']\").textContent"), StringComparison.Ordinal);
        var laptop = Assert.Single(store.List(), t => t.Name == "laptop");
        Assert.Equal(["db"], laptop.AllowPrivate);
        Assert.Equal(["ssh", "db"], laptop.AllowConnect);
        Assert.Empty(laptop.AllowHosts);
    }
}
