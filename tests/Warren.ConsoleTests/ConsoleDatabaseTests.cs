using System.Net;
using System.Net.Http;
using System.Net.Http.Headers;
using Microsoft.Data.Sqlite;
using Xunit.Abstractions;

namespace Warren.ConsoleTests;

/// <summary>
/// The console's SQLite work runs on one thread of its own behind a bounded queue (docs/console.md, "How the console
/// reads its databases"): a stuck database fills the queue, and then the console answers 503 at once, while the
/// tunnel's traffic is not touched.
/// </summary>
public sealed class ConsoleDatabaseTests(ITestOutputHelper output) : LoggedTest(output)
{
    private static readonly string AdminToken = "adm-" + WarrenHarness.NewToken();

    [Fact]
    public async Task While_the_database_is_stuck_pages_beyond_the_queue_get_503_at_once_and_traffic_flows()
    {
        var edge = Own(await WarrenHarness.StartAsync(Log, new HarnessOptions { ConfigureEdge = c => c with { AdminToken = AdminToken } }));
        var admin = $"http://127.0.0.1:{edge.Edge.AdminPort}";
        // Another connection holds warren.db's write lock: a token created on the Tokens page waits on it, and so
        // does the console's database thread (a slow disk, as it were; SQLite waits up to 30 s for a lock).
        using var blocker = new SqliteConnection($"Data Source={Path.Combine(edge.DataDirectory, "warren.db")};Pooling=false");
        blocker.Open();
        Execute(blocker, "BEGIN IMMEDIATE");
        using var create = new HttpRequestMessage(HttpMethod.Post, $"{admin}/console/tokens")
        {
            Content = new FormUrlEncodedContent(new Dictionary<string, string> { ["name"] = "stuck", ["hosts"] = "stuck.test" }),
        };
        create.Headers.Authorization = new AuthenticationHeaderValue("Bearer", AdminToken);
        var created = edge.Client.SendAsync(create);

        // One page at a time until one waits 2 s: the thread is stuck now (on the token's creation, or on the traffic
        // accounting's flush, which every 10 s writes to the same locked file), and the creation, sent before the first
        // page, is in its queue by then. Flooding at once could fill the queue (behind a stuck flush, or just slow pages
        // on a busy machine) before the creation arrived, and the creation was refused with 503 (a CI failure).
        var pages = new List<Task<HttpResponseMessage>>();
        await Wait.UntilAsync(async () =>
        {
            var probe = ConsoleClient.GetWithBearerAsync(edge.Client, $"{admin}/console/traffic", AdminToken);
            pages.Add(probe);
            return await Task.WhenAny(probe, Task.Delay(TimeSpan.FromSeconds(2))) != probe;
        }, "a console page waits on the stuck database thread", TimeSpan.FromSeconds(25));
        Assert.False(created.IsCompleted, "the token's creation waits on the lock");

        // Pages keep coming; the stuck thread's queue fills, and past its 32 they are refused at once.
        HttpResponseMessage? busy = null;
        await Wait.UntilAsync(async () =>
        {
            if (pages.Count < 200)
            {
                for (var i = 0; i < 4; i++)
                {
                    pages.Add(ConsoleClient.GetWithBearerAsync(edge.Client, $"{admin}/console/traffic", AdminToken));
                }
            }
            foreach (var done in pages.Where(p => p.IsCompletedSuccessfully))
            {
                if ((await done).StatusCode == HttpStatusCode.ServiceUnavailable)
                {
                    busy = await done;
                    return true;
                }
            }
            return false;
        }, "a console page is refused with 503 while the database is stuck", TimeSpan.FromSeconds(25));
        Assert.Equal(TimeSpan.FromSeconds(1), busy!.Headers.RetryAfter?.Delta);
        Assert.False(created.IsCompleted, "the token's creation waits on the lock");

        // Meanwhile the tunnel and the probes answer as ever.
        using (var proxied = await edge.GetAsync("/"))
        {
            Assert.Equal(HttpStatusCode.OK, proxied.StatusCode);
        }
        using (var health = await edge.Client.GetAsync($"{admin}/healthz"))
        {
            Assert.Equal(HttpStatusCode.OK, health.StatusCode);
        }

        Execute(blocker, "COMMIT");
        using (var response = await created)
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Contains("id=\"new-secret\"", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }
        var served = 0;
        foreach (var page in pages)
        {
            using var response = await page;
            Assert.Contains(response.StatusCode, new[] { HttpStatusCode.OK, HttpStatusCode.ServiceUnavailable });
            served += response.StatusCode == HttpStatusCode.OK ? 1 : 0;
        }
        Assert.True(served > 0, "the queued pages were served once the lock went");
    }

    private static void Execute(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }
}
