using Microsoft.Data.Sqlite;

namespace Warren.Edge.Accounting;

/// <summary>
/// Bytes and requests per service and per token per UTC hour, in the edge's <c>{data}/warren.db</c> beside the tokens
/// (docs/console.md, "Traffic accounting"). Written in one transaction every few seconds by <see cref="TrafficAccounting"/>,
/// never from the request path; days and months are sums of hours.
/// </summary>
internal sealed class TrafficStore
{
    private readonly string _connectionString;

    public TrafficStore(string dataDirectory)
    {
        Directory.CreateDirectory(dataDirectory);
        _connectionString = new SqliteConnectionStringBuilder { DataSource = Path.Combine(dataDirectory, "warren.db"), Pooling = false, DefaultTimeout = 10 }.ToString();
        using var connection = Open();
        using var command = connection.CreateCommand();
        command.CommandText = """
            PRAGMA journal_mode = WAL;
            CREATE TABLE IF NOT EXISTS traffic (
                scope     TEXT NOT NULL,
                name      TEXT NOT NULL,
                hour      INTEGER NOT NULL,
                requests  INTEGER NOT NULL,
                bytes_in  INTEGER NOT NULL,
                bytes_out INTEGER NOT NULL,
                PRIMARY KEY (scope, name, hour)
            );
            """;
        command.ExecuteNonQuery();
    }

    /// <summary>Adds the counts to their hours (an upsert per row), all in one transaction.</summary>
    public void Add(IReadOnlyCollection<(string Scope, string Name, long Hour, long Requests, long BytesIn, long BytesOut)> rows)
    {
        if (rows.Count == 0)
        {
            return;
        }
        using var connection = Open();
        using var transaction = connection.BeginTransaction();
        using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = """
            INSERT INTO traffic (scope, name, hour, requests, bytes_in, bytes_out) VALUES ($scope, $name, $hour, $requests, $in, $out)
            ON CONFLICT (scope, name, hour) DO UPDATE SET requests = requests + excluded.requests,
                bytes_in = bytes_in + excluded.bytes_in, bytes_out = bytes_out + excluded.bytes_out
            """;
        var scope = command.Parameters.Add("$scope", SqliteType.Text);
        var name = command.Parameters.Add("$name", SqliteType.Text);
        var hour = command.Parameters.Add("$hour", SqliteType.Integer);
        var requests = command.Parameters.Add("$requests", SqliteType.Integer);
        var bytesIn = command.Parameters.Add("$in", SqliteType.Integer);
        var bytesOut = command.Parameters.Add("$out", SqliteType.Integer);
        command.Prepare();
        foreach (var row in rows)
        {
            (scope.Value, name.Value, hour.Value, requests.Value, bytesIn.Value, bytesOut.Value) = (row.Scope, row.Name, row.Hour, row.Requests, row.BytesIn, row.BytesOut);
            command.ExecuteNonQuery();
        }
        transaction.Commit();
    }

    /// <summary>Each token's bytes (both ways) since <paramref name="fromHour"/> (a unix hour).</summary>
    public Dictionary<string, long> TokenBytesSince(long fromHour)
    {
        using var connection = Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT name, SUM(bytes_in + bytes_out) FROM traffic WHERE scope = 'token' AND hour >= $from GROUP BY name";
        command.Parameters.AddWithValue("$from", fromHour);
        using var reader = command.ExecuteReader();
        var result = new Dictionary<string, long>(StringComparer.Ordinal);
        while (reader.Read())
        {
            result[reader.GetString(0)] = reader.GetInt64(1);
        }
        return result;
    }

    /// <summary>Rows since <paramref name="fromHour"/>, grouped into buckets of <paramref name="bucketHours"/> (1: hours, 24: days).</summary>
    public IReadOnlyList<(string Scope, string Name, long Bucket, long Requests, long BytesIn, long BytesOut)> Query(long fromHour, int bucketHours)
    {
        using var connection = Open();
        using var command = connection.CreateCommand();
        command.CommandText = """
            SELECT scope, name, (hour / $bucket) * $bucket AS b, SUM(requests), SUM(bytes_in), SUM(bytes_out)
            FROM traffic WHERE hour >= $from GROUP BY scope, name, b ORDER BY scope, name, b
            """;
        command.Parameters.AddWithValue("$from", fromHour);
        command.Parameters.AddWithValue("$bucket", bucketHours);
        using var reader = command.ExecuteReader();
        var rows = new List<(string, string, long, long, long, long)>();
        while (reader.Read())
        {
            rows.Add((reader.GetString(0), reader.GetString(1), reader.GetInt64(2), reader.GetInt64(3), reader.GetInt64(4), reader.GetInt64(5)));
        }
        return rows;
    }

    private SqliteConnection Open()
    {
        var connection = new SqliteConnection(_connectionString);
        connection.Open();
        return connection;
    }
}
