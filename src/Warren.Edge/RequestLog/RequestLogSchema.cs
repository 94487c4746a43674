using System.Globalization;
using Microsoft.Data.Sqlite;

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
            CREATE INDEX IF NOT EXISTS requests_ts ON requests (ts);
            CREATE INDEX IF NOT EXISTS requests_service ON requests (service, id);
            """;
        command.ExecuteNonQuery();
        return connection;
    }

    public static Insert PrepareInsert(SqliteConnection connection) => new(connection);

    /// <summary>One prepared insert, its parameters bound per row.</summary>
    internal sealed class Insert : IDisposable
    {
        private readonly SqliteParameter[] _p;

        public Insert(SqliteConnection connection)
        {
            Command = connection.CreateCommand();
            Command.CommandText = """
                INSERT INTO requests (id, ts, kind, service, token, method, host, path, status, duration_us, bytes_in, bytes_out, client, session, error)
                VALUES ($id, $ts, $kind, $service, $token, $method, $host, $path, $status, $duration, $in, $out, $client, $session, $error)
                """;
            string[] names = ["$id", "$ts", "$kind", "$service", "$token", "$method", "$host", "$path", "$status", "$duration", "$in", "$out", "$client", "$session", "$error"];
            _p = [.. names.Select(n => Command.Parameters.Add(n, SqliteType.Text))];
        }

        public SqliteCommand Command { get; }

        public void Bind(in RequestRecord r)
        {
            _p[0].Value = r.Id;
            _p[1].Value = r.UnixMillis;
            _p[2].Value = KindName(r.Kind);
            _p[3].Value = (object?)r.Service ?? DBNull.Value;
            _p[4].Value = (object?)r.Token ?? DBNull.Value;
            _p[5].Value = (object?)r.Method ?? DBNull.Value;
            _p[6].Value = (object?)Bound(r.Host, 256) ?? DBNull.Value;
            _p[7].Value = (object?)Bound(r.Path, RequestLogWriter.MaxPathLength) ?? DBNull.Value;
            _p[8].Value = r.Status;
            _p[9].Value = r.DurationMicros;
            _p[10].Value = r.BytesIn;
            _p[11].Value = r.BytesOut;
            _p[12].Value = (object?)r.Client?.ToString() ?? DBNull.Value;
            _p[13].Value = r.Session is { } s ? s.AgentName + "#" + Invariant(s.Id) : DBNull.Value;
            _p[14].Value = r.Error;
        }

        public void Dispose() => Command.Dispose();
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
