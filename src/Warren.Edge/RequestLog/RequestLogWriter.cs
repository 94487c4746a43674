using System.Threading.Channels;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;
using Warren.Configuration;

namespace Warren.Edge.RequestLog;

/// <summary>
/// The persistent request log (docs/console.md, "Request log"): <c>{data}/requests.db</c>, SQLite in WAL mode. The
/// request path only offers a <see cref="RequestRecord"/> to a bounded queue (<see cref="TryEnqueue"/>: a short
/// lock, no I/O, never a wait); when the queue is full the record is dropped and counted. One background thread of
/// its own takes whatever is queued and inserts it in one transaction, and every minute deletes rows past the
/// retention (age) and, above <c>max_size</c>, the oldest rows until the file is under it again.
/// </summary>
internal sealed partial class RequestLogWriter : IDisposable
{
    /// <summary>Rows inserted per transaction at most: a burst is written in a few transactions rather than one huge one.</summary>
    public const int MaxBatch = 4096;

    /// <summary>Paths are stored up to this many characters (the rest is cut; queries are never stored).</summary>
    public const int MaxPathLength = 2048;

    private static readonly TimeSpan RetentionInterval = TimeSpan.FromMinutes(1);

    /// <summary>
    /// How long the writer gathers rows after the first one arrives before it writes them. A commit costs several
    /// times a row (docs/performance.md, "Request log"), so a busy edge commits a few hundred rows 20 times a second
    /// rather than a few rows per wake-up; and the request path wakes the thread at most once per window. With the
    /// default queue of 16,384 this keeps up with 300,000 requests a second.
    /// </summary>
    internal static readonly TimeSpan GatherWindow = TimeSpan.FromMilliseconds(50);

    private readonly Channel<RequestRecord> _queue;
    private readonly RequestLogConfig _config;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly SqliteConnection _connection;
    private readonly Thread _thread;
    private readonly CancellationTokenSource _stopping = new();
    private readonly long _lastId;
    private long _dropped, _written;
    private long _lastRetention;

    /// <summary>The connection is the writer thread's; retention called from elsewhere (tests) takes this too.</summary>
    private readonly Lock _db = new();

    public RequestLogWriter(string dataDirectory, RequestLogConfig config, TimeProvider time, ILogger logger)
    {
        (_config, _time, _logger) = (config, time, logger);
        Directory.CreateDirectory(dataDirectory);
        DatabasePath = Path.Combine(dataDirectory, "requests.db");
        _connection = RequestLogSchema.Open(DatabasePath, readOnly: false);
        using (var max = _connection.CreateCommand())
        {
            max.CommandText = "SELECT COALESCE(MAX(id), 0) FROM requests";
            _lastId = (long)max.ExecuteScalar()!;
        }
        _queue = Channel.CreateBounded<RequestRecord>(new BoundedChannelOptions(config.Queue)
        {
            SingleReader = true,
            FullMode = BoundedChannelFullMode.Wait, // TryWrite then fails at once instead of waiting: counted as dropped
        });
        _lastRetention = time.GetTimestamp();
        _thread = new Thread(Run) { IsBackground = true, Name = "warren-request-log" };
        _thread.Start();
    }

    public string DatabasePath { get; }

    /// <summary>Records dropped because the queue was full (warren_request_log_dropped_total).</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    public long Written => Interlocked.Read(ref _written);

    public int QueueDepth => _queue.Reader.CanCount ? _queue.Reader.Count : 0;

    /// <summary>The largest row id in the file when it was opened: new ids continue from it.</summary>
    public long LastId => _lastId;

    /// <summary>Offers a record to the writer; never waits. False (and counted) when the queue is full.</summary>
    public bool TryEnqueue(in RequestRecord record)
    {
        if (_queue.Writer.TryWrite(record))
        {
            return true;
        }
        Interlocked.Increment(ref _dropped);
        return false;
    }

    /// <summary>Waits until everything queued so far is written (tests, and a clean stop).</summary>
    public async Task FlushAsync(CancellationToken cancellationToken = default)
    {
        // The writer marks itself busy before it takes anything from the queue and clears it once written.
        while (_queue.Reader.Count > 0 || Volatile.Read(ref _busy))
        {
            await Task.Delay(10, cancellationToken).ConfigureAwait(false);
        }
    }

    private bool _busy;

    private void Run()
    {
        var batch = new List<RequestRecord>(MaxBatch);
        using var insert = RequestLogSchema.PrepareInsert(_connection);
        var reader = _queue.Reader;
        Task<bool>? waiting = null;
        while (true)
        {
            try
            {
                // A thread of its own, blocked here when idle: SQLite's calls are synchronous, and they must never
                // take a thread the request path could run on. It wakes at least every minute for retention, so an
                // edge without traffic still forgets old rows.
                waiting ??= reader.WaitToReadAsync(_stopping.Token).AsTask();
                if (!waiting.Wait(RetentionInterval))
                {
                    RetainIfDue();
                    continue;
                }
                if (!waiting.Result)
                {
                    return;
                }
                waiting = null;
            }
            catch (AggregateException ex) when (ex.InnerException is OperationCanceledException)
            {
                return;
            }
            Volatile.Write(ref _busy, true);
            // Let more rows arrive (a stop cuts the wait short: what is queued is written below).
            _stopping.Token.WaitHandle.WaitOne(GatherWindow);
            try
            {
                while (reader.TryRead(out var record))
                {
                    batch.Add(record);
                    if (batch.Count == MaxBatch)
                    {
                        Write(insert, batch);
                    }
                }
                Write(insert, batch);
            }
            catch (SqliteException ex)
            {
                Interlocked.Add(ref _dropped, batch.Count);
                batch.Clear();
                Log.WriteFailed(_logger, ex.Message);
            }
            finally
            {
                Volatile.Write(ref _busy, false);
            }
            RetainIfDue();
        }
    }

    private void RetainIfDue()
    {
        if (_time.GetElapsedTime(_lastRetention) < RetentionInterval)
        {
            return;
        }
        _lastRetention = _time.GetTimestamp();
        try
        {
            EnforceRetention();
        }
        catch (SqliteException ex)
        {
            Log.RetentionFailed(_logger, ex.Message);
        }
    }

    private void Write(RequestLogSchema.Insert insert, List<RequestRecord> batch)
    {
        if (batch.Count == 0)
        {
            return;
        }
        lock (_db)
        {
            insert.Write(batch);
        }
        Interlocked.Add(ref _written, batch.Count);
        batch.Clear();
    }

    /// <summary>Deletes rows past the retention, then the oldest rows while the file holds more than max_size.</summary>
    internal void EnforceRetention()
    {
        lock (_db)
        {
            EnforceRetentionLocked();
        }
    }

    private void EnforceRetentionLocked()
    {
        var cutoff = _time.GetUtcNow().Subtract(_config.Retention).ToUnixTimeMilliseconds();
        using var command = _connection.CreateCommand();
        // ts grows with id (RequestLogSchema.FirstIdAtOrAfter): everything before the first row inside the retention
        // is past it, a range delete on the primary key.
        command.CommandText = "DELETE FROM requests WHERE id < $first";
        command.Parameters.AddWithValue("$first", RequestLogSchema.FirstIdAtOrAfter(_connection, cutoff));
        var deleted = command.ExecuteNonQuery();
        for (var round = 0; round < 20 && UsedBytes() > _config.MaxSize; round++)
        {
            // A tenth of the rows at a time: a few rounds at most, each a range delete on the primary key.
            using var trim = _connection.CreateCommand();
            trim.CommandText = """
                DELETE FROM requests WHERE id <= (SELECT id FROM requests ORDER BY id LIMIT 1 OFFSET (SELECT COUNT(*) / 10 FROM requests))
                """;
            deleted += trim.ExecuteNonQuery();
        }
        if (deleted > 0)
        {
            using var vacuum = _connection.CreateCommand();
            vacuum.CommandText = "PRAGMA incremental_vacuum; PRAGMA wal_checkpoint(TRUNCATE);";
            vacuum.ExecuteNonQuery();
            Log.Trimmed(_logger, deleted);
        }
    }

    /// <summary>Bytes the rows take: pages in use (not free) times the page size.</summary>
    internal long UsedBytes()
    {
        lock (_db) // re-entrant: retention calls it holding the lock
        {
            return UsedBytesLocked();
        }
    }

    private long UsedBytesLocked()
    {
        using var command = _connection.CreateCommand();
        command.CommandText = "SELECT (SELECT page_count FROM pragma_page_count()) - (SELECT freelist_count FROM pragma_freelist_count()), (SELECT page_size FROM pragma_page_size())";
        using var reader = command.ExecuteReader();
        reader.Read();
        return reader.GetInt64(0) * reader.GetInt64(1);
    }

    public void Dispose()
    {
        _queue.Writer.TryComplete(); // the thread writes what is queued, then ends
        if (!_thread.Join(TimeSpan.FromSeconds(10)))
        {
            _stopping.Cancel();
            if (!_thread.Join(TimeSpan.FromSeconds(5)))
            {
                // Still inside SQLite (a retention pass on a slow disk): closing the connection and its statement under
                // that call would free native memory it is using. Left open instead; the process is on its way out.
                Log.WriterStuck(_logger);
                return;
            }
        }
        _connection.Dispose();
        _stopping.Dispose();
    }

    private static partial class Log
    {
        [LoggerMessage(960, LogLevel.Warning, "Request log: a batch could not be written and was dropped: {Message}", EventName = "RequestLogWriteFailed")]
        public static partial void WriteFailed(ILogger logger, string message);

        [LoggerMessage(961, LogLevel.Debug, "Request log: {Rows} rows deleted by retention", EventName = "RequestLogTrimmed")]
        public static partial void Trimmed(ILogger logger, int rows);

        [LoggerMessage(962, LogLevel.Warning, "Request log: retention could not delete old rows: {Message}", EventName = "RequestLogRetentionFailed")]
        public static partial void RetentionFailed(ILogger logger, string message);

        [LoggerMessage(963, LogLevel.Warning, "Request log: the writer did not stop within 15 s; its database is left open", EventName = "RequestLogWriterStuck")]
        public static partial void WriterStuck(ILogger logger);
    }
}
