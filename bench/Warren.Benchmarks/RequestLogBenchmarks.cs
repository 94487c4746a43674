using System.Net;
using BenchmarkDotNet.Attributes;
using Microsoft.Data.Sqlite;
using Warren.Edge.RequestLog;

namespace Warren.Benchmarks;

/// <summary>
/// The request log's insert (docs/performance.md, "Request log"): what one row costs the writer thread when a commit
/// carries 1, 16 or 512 rows, into a real WAL-mode file in the temp folder with the real schema and indexes.
/// </summary>
public class RequestLogBenchmarks
{
    private string _folder = "";
    private SqliteConnection? _connection;
    private RequestLogSchema.Insert? _insert;
    private readonly List<RequestRecord> _batch = new(512);
    private long _id;

    [GlobalSetup]
    public void Setup()
    {
        _folder = Directory.CreateTempSubdirectory("warren-bench-rlog-").FullName;
        _connection = RequestLogSchema.Open(Path.Combine(_folder, "requests.db"), readOnly: false);
        _insert = RequestLogSchema.PrepareInsert(_connection);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _insert?.Dispose();
        _connection?.Dispose();
        SqliteConnection.ClearAllPools();
        Directory.Delete(_folder, recursive: true);
    }

    [Benchmark(OperationsPerInvoke = 1)]
    public void OneRowPerCommit() => Write(1);

    [Benchmark(OperationsPerInvoke = 16)]
    public void SixteenRowsPerCommit() => Write(16);

    [Benchmark(OperationsPerInvoke = 512)]
    public void FiveHundredTwelveRowsPerCommit() => Write(512);

    private void Write(int rows)
    {
        _batch.Clear();
        for (var i = 0; i < rows; i++)
        {
            var id = ++_id;
            // A typical proxied GET, as RequestTelemetry hands it over (strings that exist already).
            _batch.Add(new RequestRecord(id, 1_764_900_000_000 + id, RecordKind.Http, "web", "bench", "GET", "web.bench", "/6b", 200,
                312, 0, 6, IPAddress.Loopback, null, ""));
        }
        _insert!.Write(_batch);
    }
}
