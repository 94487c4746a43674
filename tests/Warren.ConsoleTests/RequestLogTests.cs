using System.Net;
using System.Net.Http;
using System.Text.Json;
using Microsoft.Data.Sqlite;
using Warren.Configuration;
using Warren.Edge.RequestLog;
using Xunit.Abstractions;

namespace Warren.ConsoleTests;

/// <summary>
/// The persistent request log (docs/console.md, "Request log"): written off the request path through a bounded
/// queue, what a full queue drops counted, retention by age and size, searchable through the admin API.
/// </summary>
public sealed class RequestLogTests(ITestOutputHelper output) : LoggedTest(output)
{
    private static readonly string AdminToken = "adm-" + WarrenHarness.NewToken();

    [Fact]
    public async Task Requests_are_logged_and_found_by_service_status_path_client_and_time()
    {
        var edge = Own(await WarrenHarness.StartAsync(Log, new HarnessOptions { ConfigureEdge = c => c with { AdminToken = AdminToken } }));
        var marker = Guid.NewGuid().ToString("N");
        using (var missing = await edge.GetAsync($"/missing-{marker}?secret=1"))
        {
            Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        }
        using (var found = await edge.GetAsync($"/?{marker}"))
        {
            Assert.Equal(HttpStatusCode.OK, found.StatusCode);
        }

        var rows = Array.Empty<JsonElement>();
        await Wait.UntilAsync(async () => (rows = await SearchAsync(edge, $"path=missing-{marker}")).Length == 1, "the request log holds the 404");
        var row = rows[0];
        Assert.Equal("http", row.GetProperty("kind").GetString());
        Assert.Equal("app", row.GetProperty("service").GetString());
        Assert.Equal("tests", row.GetProperty("token").GetString());
        Assert.Equal("GET", row.GetProperty("method").GetString());
        Assert.Equal("app.test", row.GetProperty("host").GetString());
        Assert.Equal($"/missing-{marker}", row.GetProperty("path").GetString()); // the query is never stored
        Assert.Equal(404, row.GetProperty("status").GetInt32());
        Assert.Equal("127.0.0.1", row.GetProperty("client").GetString());
        Assert.StartsWith("test-agent#", row.GetProperty("session").GetString(), StringComparison.Ordinal);
        Assert.True(row.GetProperty("bytes_out").GetInt64() >= 0);
        var id = row.GetProperty("id").GetInt64();

        // Each filter narrows: status code and class, service, client, time range.
        Assert.Single(await SearchAsync(edge, $"path=missing-{marker}&status=404"));
        Assert.Single(await SearchAsync(edge, $"path=missing-{marker}&status=4xx&service=app&client=127.0.0.1"));
        Assert.Empty(await SearchAsync(edge, $"path=missing-{marker}&status=2xx"));
        Assert.Empty(await SearchAsync(edge, $"path=missing-{marker}&service=other"));
        Assert.Empty(await SearchAsync(edge, $"path=missing-{marker}&client=127.0.0.2"));
        var time = row.GetProperty("time").GetDateTimeOffset();
        Assert.Single(await SearchAsync(edge, $"path=missing-{marker}&from={Uri.EscapeDataString(time.AddMinutes(-1).ToString("O"))}"));
        Assert.Empty(await SearchAsync(edge, $"path=missing-{marker}&from={Uri.EscapeDataString(time.AddMinutes(1).ToString("O"))}"));
        Assert.Empty(await SearchAsync(edge, $"path=missing-{marker}&before={id}"));
        Assert.Contains(await SearchAsync(edge, "status=2xx"), r => r.GetProperty("status").GetInt32() == 200);

        // A wrong filter is a 400 that names it, never SQL.
        foreach (var (query, named) in new[] { ("status=4x4", "status"), ("client=not-an-ip", "client"), ("from=yesterday", "from") })
        {
            using var response = await ConsoleClient.GetWithBearerAsync(edge.Client, $"http://127.0.0.1:{edge.Edge.AdminPort}/console/api/requests?{query}", AdminToken);
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
            Assert.Contains(named, await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }
        Assert.True(await edge.MetricAsync("warren_request_log_written_total") >= 2);
        Assert.Equal(0, await edge.MetricAsync("warren_request_log_dropped_total"));
    }

    [Fact]
    public async Task A_full_queue_drops_and_counts_records_instead_of_waiting_for_the_writer()
    {
        var data = TempDirectory();
        using var writer = new RequestLogWriter(data, new RequestLogConfig { Queue = 64 }, TimeProvider.System, Log.Factory.CreateLogger("log"));
        // Another connection holds SQLite's write lock: the writer's next batch waits on it (a slow disk, as it were).
        using var blocker = new SqliteConnection($"Data Source={writer.DatabasePath};Pooling=false");
        blocker.Open();
        using (var begin = blocker.CreateCommand())
        {
            begin.CommandText = "BEGIN IMMEDIATE";
            begin.ExecuteNonQuery();
        }
        Assert.True(writer.TryEnqueue(Record(1, DateTimeOffset.UtcNow)));
        await Wait.UntilAsync(() => writer.QueueDepth == 0, "the writer took the first record and is stuck writing it");

        var offered = 1;
        var refused = 0;
        for (var i = 0; i < 64 + 36; i++)
        {
            offered++;
            refused += writer.TryEnqueue(Record(offered, DateTimeOffset.UtcNow)) ? 0 : 1;
        }
        // The queue holds 64; the rest were refused at once, without waiting, and counted.
        Assert.Equal(36, refused);
        Assert.Equal(36, writer.Dropped);

        using (var commit = blocker.CreateCommand())
        {
            commit.CommandText = "COMMIT";
            commit.ExecuteNonQuery();
        }
        await Wait.UntilAsync(() => writer.Written + writer.Dropped == offered, "every record offered is written or counted as dropped");
        Assert.True(writer.Written >= 64, $"{writer.Written} written");
    }

    [Fact]
    public async Task Retention_deletes_rows_past_the_age_then_the_oldest_above_the_size()
    {
        var data = TempDirectory();
        // A queue that holds the whole burst: this test is about retention, not drops.
        var config = new RequestLogConfig { Retention = TimeSpan.FromDays(7), MaxSize = 1_000_000, Queue = 65_536 };
        using var writer = new RequestLogWriter(data, config, TimeProvider.System, Log.Factory.CreateLogger("log"));
        var now = DateTimeOffset.UtcNow;
        long id = 0;
        for (var i = 0; i < 10; i++)
        {
            Assert.True(writer.TryEnqueue(Record(++id, now.AddDays(-8)))); // past the retention
        }
        for (var i = 0; i < 30_000; i++)
        {
            Assert.True(writer.TryEnqueue(Record(++id, now, path: "/p/" + new string('x', 60))));
        }
        await Wait.UntilAsync(() => writer.Written == id, "every row is written");
        Assert.True(writer.UsedBytes() > config.MaxSize, $"the test wrote {writer.UsedBytes()} bytes, not more than max_size");

        writer.EnforceRetention();

        Assert.True(writer.UsedBytes() <= config.MaxSize, $"{writer.UsedBytes()} bytes in use after retention, above max_size {config.MaxSize}");
        var old = new RequestSearch { To = now.AddDays(-7), Limit = 500 }.Run(writer.DatabasePath);
        Assert.Empty(old);
        var newest = new RequestSearch { Limit = 1 }.Run(writer.DatabasePath);
        Assert.Equal(id, Assert.Single(newest).Id); // the newest rows stay
        Assert.Empty(new RequestSearch { Id = 11 }.Run(writer.DatabasePath)); // the oldest went first
    }

    [Fact]
    public async Task A_time_range_finds_exactly_the_rows_inside_it_with_gaps_in_the_ids()
    {
        var data = TempDirectory();
        using var writer = new RequestLogWriter(data, new RequestLogConfig { Queue = 4096 }, TimeProvider.System, Log.Factory.CreateLogger("log"));
        var start = new DateTimeOffset(2026, 12, 1, 0, 0, 0, TimeSpan.Zero);
        long id = 100, written = 0;
        for (var minute = 0; minute < 1000; minute++)
        {
            id += 1 + (minute % 7); // ids with holes, as dropped records and inspected requests leave them
            Assert.True(writer.TryEnqueue(Record(id, start.AddMinutes(minute), path: "/m/" + minute)));
            written++;
        }
        await Wait.UntilAsync(() => writer.Written == written, "every row is written");

        var rows = new RequestSearch { From = start.AddMinutes(250), To = start.AddMinutes(259), Limit = 500 }.Run(writer.DatabasePath);
        Assert.Equal([.. Enumerable.Range(250, 10).Reverse().Select(m => "/m/" + m)], rows.Select(r => r.Path));
        Assert.Equal("/m/500", new RequestSearch { From = start.AddDays(-1), Limit = 500 }.Run(writer.DatabasePath)[^1].Path);
        Assert.Empty(new RequestSearch { From = start.AddMinutes(1000) }.Run(writer.DatabasePath));
        Assert.Empty(new RequestSearch { To = start.AddMinutes(-1) }.Run(writer.DatabasePath));
        Assert.Equal("/m/0", Assert.Single(new RequestSearch { To = start.AddSeconds(59) }.Run(writer.DatabasePath)).Path);
        Assert.Equal("/m/999", Assert.Single(new RequestSearch { From = start.AddMinutes(999) }.Run(writer.DatabasePath)).Path);
        Assert.Equal("", Assert.Single(new RequestSearch { Limit = 1 }.Run(writer.DatabasePath)).Error); // an empty text is stored as text, not NULL
    }

    [Fact]
    public void Settings_out_of_range_are_refused_naming_the_key()
    {
        var invalid = Assert.Throws<ConfigException>(() => WarrenHarness.LoopbackEdgeConfig(TempDirectory(), [WarrenHarness.Grant("t", WarrenHarness.NewToken(), ["t.test"])],
            c => c with { RequestLog = new RequestLogConfig { Retention = TimeSpan.FromMinutes(5), MaxSize = 1000, Queue = 1 } }));
        var errors = invalid.Errors.Select(e => e.Path).ToHashSet();
        Assert.Contains("request_log.retention", errors);
        Assert.Contains("request_log.max_size", errors);
        Assert.Contains("request_log.queue", errors);
    }

    private static RequestRecord Record(long id, DateTimeOffset time, string path = "/") =>
        new(id, time.ToUnixTimeMilliseconds(), RecordKind.Http, "svc", "tok", "GET", "svc.test", path, 200, 1000, 10, 20, IPAddress.Loopback, null, "");

    private static Task<JsonElement[]> SearchAsync(WarrenHarness edge, string query) => ConsoleClient.SearchAsync(edge, AdminToken, query);
}
