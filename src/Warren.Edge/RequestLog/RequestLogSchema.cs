using System.Globalization;
using System.Runtime.InteropServices;
using Microsoft.Data.Sqlite;
using SQLitePCL;

namespace Warren.Edge.RequestLog;

/// <summary>The request log's table, its indexes and its insert (docs/console.md, "Request log").</summary>
internal static class RequestLogSchema
{
    public static SqliteConnection Open(string path, bool readOnly)
    {
        var connection = new SqliteConnection(new SqliteConnectionStringBuilder
        {
            DataSource = path,
            Pooling = false,
            Mode = readOnly ? SqliteOpenMode.ReadOnly : SqliteOpenMode.ReadWriteCreate,
            DefaultTimeout = 5,
        }.ToString());
        connection.Open();
        if (readOnly)
        {
            return connection;
        }
        using var command = connection.CreateCommand();
        // auto_vacuum must be chosen before the first table exists: retention then gives pages back to the file system.
        // WAL with synchronous=NORMAL: a commit is a write to the log, fsync only at checkpoints (a crash may lose the
        // last rows, never corrupt the file), which is what a log of requests needs.
        command.CommandText = """
            PRAGMA auto_vacuum = INCREMENTAL;
            PRAGMA journal_mode = WAL;
            PRAGMA synchronous = NORMAL;
            CREATE TABLE IF NOT EXISTS requests (
                id          INTEGER PRIMARY KEY,
                ts          INTEGER NOT NULL,
                kind        TEXT NOT NULL,
                service     TEXT,
                token       TEXT,
                method      TEXT,
                host        TEXT,
                path        TEXT,
                status      INTEGER NOT NULL,
                duration_us INTEGER NOT NULL,
                bytes_in    INTEGER NOT NULL,
                bytes_out   INTEGER NOT NULL,
                client      TEXT,
                session     TEXT,
                error       TEXT NOT NULL
            );
            CREATE INDEX IF NOT EXISTS requests_service ON requests (service, id);
            DROP INDEX IF EXISTS requests_ts;
            """;
        command.ExecuteNonQuery();
        return connection;
    }

    public static Insert PrepareInsert(SqliteConnection connection) => new(connection);

    /// <summary>
    /// An id bound for a time: the rows with <c>id &gt;= </c> the result are exactly those with <c>ts &gt;= unixMillis</c>
    /// (the result is one past the largest id when none is). There is no index on <c>ts</c> (it cost a third of each
    /// insert): ids are handed out when a request ends and <c>ts</c> is that same moment, so ts grows with id, and a
    /// binary search over the primary key finds the bound in about 30 seeks. Requests that end within the same few
    /// milliseconds may be out of order by that much; callers keep the exact <c>ts</c> condition beside the id bound.
    /// </summary>
    public static long FirstIdAtOrAfter(SqliteConnection connection, long unixMillis)
    {
        using var next = connection.CreateCommand();
        next.CommandText = "SELECT id, ts FROM requests WHERE id >= $id ORDER BY id LIMIT 1";
        var id = next.Parameters.Add("$id", SqliteType.Integer);
        using var bounds = connection.CreateCommand();
        bounds.CommandText = "SELECT COALESCE(MIN(id), 0), COALESCE(MAX(id), 0) FROM requests";
        long low, high;
        using (var reader = bounds.ExecuteReader())
        {
            reader.Read();
            (low, high) = (reader.GetInt64(0), reader.GetInt64(1) + 1);
        }
        // The smallest x in [low, high] for which the first row at or after x is recent enough (or there is none).
        // Below the bound, low jumps past the old row found; at or above it, high comes down to the probe.
        while (low < high)
        {
            var probe = low + ((high - low) / 2);
            id.Value = probe;
            using var reader = next.ExecuteReader();
            if (reader.Read() && reader.GetInt64(1) < unixMillis)
            {
                low = reader.GetInt64(0) + 1;
            }
            else
            {
                high = probe;
            }
        }
        return low;
    }

    /// <summary>
    /// The prepared insert, bound and stepped through SQLitePCLRaw (the library under Microsoft.Data.Sqlite) on the
    /// connection's own handle: binding through <c>SqliteParameter.Value</c> boxed every number and turned every
    /// address and session into a new string, and each <c>ExecuteNonQuery</c> built a reader; here a row is 15
    /// binds and one step, with text bound as UTF-16 spans that SQLite converts itself. Measured in
    /// bench/Warren.Benchmarks (RequestLogBenchmarks) and docs/performance.md, "Request log".
    /// </summary>
    internal sealed class Insert : IDisposable
    {
        private const string Sql = """
            INSERT INTO requests (id, ts, kind, service, token, method, host, path, status, duration_us, bytes_in, bytes_out, client, session, error)
            VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)
            """;

        private readonly SqliteConnection _connection;
        private readonly sqlite3_stmt _statement;

        public Insert(SqliteConnection connection)
        {
            _connection = connection;
            Check(raw.sqlite3_prepare_v2(connection.Handle, Sql, out _statement));
        }

        /// <summary>Inserts <paramref name="batch"/> in one transaction.</summary>
        public void Write(List<RequestRecord> batch)
        {
            using var transaction = _connection.BeginTransaction();
            foreach (ref readonly var record in CollectionsMarshal.AsSpan(batch))
            {
                Bind(record);
                var rc = raw.sqlite3_step(_statement);
                raw.sqlite3_reset(_statement);
                if (rc != raw.SQLITE_DONE)
                {
                    Check(rc);
                }
            }
            transaction.Commit();
        }

        private void Bind(in RequestRecord r)
        {
            var s = _statement;
            raw.sqlite3_bind_int64(s, 1, r.Id);
            raw.sqlite3_bind_int64(s, 2, r.UnixMillis);
            Text(3, KindName(r.Kind));
            Text(4, r.Service);
            Text(5, r.Token);
            Text(6, r.Method);
            Text(7, Bound(r.Host, 256));
            Text(8, Bound(r.Path, RequestLogWriter.MaxPathLength));
            raw.sqlite3_bind_int64(s, 9, r.Status);
            raw.sqlite3_bind_int64(s, 10, r.DurationMicros);
            raw.sqlite3_bind_int64(s, 11, r.BytesIn);
            raw.sqlite3_bind_int64(s, 12, r.BytesOut);
            Span<char> chars = stackalloc char[64]; // an IPv6 address with scope, or an agent name of up to 40 and its id
            if (r.Client is { } client && client.TryFormat(chars, out var written))
            {
                raw.sqlite3_bind_text16(s, 13, chars[..written]);
            }
            else
            {
                Text(13, r.Client?.ToString());
            }
            if (r.Session is { } session && chars.TryWrite(CultureInfo.InvariantCulture, $"{session.AgentName}#{session.Id}", out written))
            {
                raw.sqlite3_bind_text16(s, 14, chars[..written]);
            }
            else
            {
                Text(14, r.Session is { } longer ? longer.AgentName + "#" + Invariant(longer.Id) : null);
            }
            Text(15, r.Error);
        }

        private void Text(int index, string? value)
        {
            if (value is null)
            {
                raw.sqlite3_bind_null(_statement, index);
            }
            else
            {
                raw.sqlite3_bind_text16(_statement, index, value.AsSpan());
            }
        }

        private void Check(int rc)
        {
            if (rc != raw.SQLITE_OK)
            {
                SqliteException.ThrowExceptionForRC(rc, _connection.Handle);
            }
        }

        public void Dispose() => _statement.Dispose();
    }

    public static string KindName(RecordKind kind) => kind switch
    {
        RecordKind.Http => "http",
        RecordKind.WebSocket => "websocket",
        RecordKind.Tcp => "tcp",
        _ => "replay",
    };

    private static string? Bound(string? text, int max) => text is null || text.Length <= max ? text : text[..max];

    internal static string Invariant(long value) => value.ToString(CultureInfo.InvariantCulture);
}
