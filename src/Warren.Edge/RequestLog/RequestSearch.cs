using System.Globalization;
using System.Net;
using Microsoft.Data.Sqlite;

namespace Warren.Edge.RequestLog;

/// <summary>One row read back from the request log.</summary>
internal sealed record LoggedRequest(long Id, DateTimeOffset Time, string Kind, string? Service, string? Token, string? Method, string? Host, string? Path,
    int Status, double DurationMs, long BytesIn, long BytesOut, string? Client, string? Session, string Error);

/// <summary>
/// A search of the request log (docs/console.md, "Request log"): by service, status (a code such as 404, a class
/// such as 5xx, or "error" for failed ones), part of the path, client address and time range, newest first, a page
/// at a time. Every field from the query string is checked here and bound as a parameter, never spliced into SQL.
/// </summary>
internal sealed record RequestSearch
{
    public const int MaxLimit = 500;

    public string? Service { get; init; }
    public string? Status { get; init; }
    public string? Path { get; init; }
    public string? Client { get; init; }
    public DateTimeOffset? From { get; init; }
    public DateTimeOffset? To { get; init; }
    public long? Before { get; init; }
    public long? Id { get; init; }
    public int Limit { get; init; } = 100;

    /// <summary>Reads a search from query-string values; the error names the field that is wrong.</summary>
    public static RequestSearch Parse(Func<string, string?> get, out string? error)
    {
        error = null;
        var search = new RequestSearch
        {
            Service = Blank(get("service")),
            Status = Blank(get("status")),
            Path = Blank(get("path")),
            Client = Blank(get("client")),
        };
        if (search.Service is { Length: > 128 } || search.Path is { Length: > 1024 })
        {
            error = "service or path is too long";
        }
        if (search.Status is { } status && !(status == "error" || (status.Length == 3 && status[0] is >= '1' and <= '5'
            && (status.AsSpan(1).SequenceEqual("xx") || int.TryParse(status, NumberStyles.None, CultureInfo.InvariantCulture, out _)))))
        {
            error = $"status '{status}' is not a code (404), a class (5xx) or 'error'";
        }
        if (search.Client is { } client && !IPAddress.TryParse(client, out _))
        {
            error = $"client '{client}' is not an IP address";
        }
        search = search with { From = Time(get("from"), "from", ref error), To = Time(get("to"), "to", ref error) };
        if (Blank(get("before")) is { } before)
        {
            search = long.TryParse(before, NumberStyles.None, CultureInfo.InvariantCulture, out var b) ? search with { Before = b } : search;
        }
        if (Blank(get("limit")) is { } limit && int.TryParse(limit, NumberStyles.None, CultureInfo.InvariantCulture, out var l))
        {
            search = search with { Limit = Math.Clamp(l, 1, MaxLimit) };
        }
        return search;
    }

    /// <summary>Runs the search on its own read-only connection (WAL lets it read while the writer writes).</summary>
    public IReadOnlyList<LoggedRequest> Run(string databasePath)
    {
        if (!File.Exists(databasePath))
        {
            return [];
        }
        using var connection = RequestLogSchema.Open(databasePath, readOnly: true);
        using var command = connection.CreateCommand();
        var where = new List<string>();
        void Add(string clause, string name, object value)
        {
            where.Add(clause);
            command.Parameters.AddWithValue(name, value);
        }
        if (Id is { } id)
        {
            Add("id = $id", "$id", id);
        }
        if (Service is { } service)
        {
            Add("service = $service", "$service", service);
        }
        if (Status is "error")
        {
            where.Add("(error <> '' OR status >= 500)");
        }
        else if (Status is { } status && status.EndsWith("xx", StringComparison.Ordinal))
        {
            var low = (status[0] - '0') * 100;
            Add("status >= $low AND status < $low + 100", "$low", low);
        }
        else if (Status is { } code)
        {
            Add("status = $status", "$status", int.Parse(code, CultureInfo.InvariantCulture));
        }
        if (Path is { } path)
        {
            Add(@"path LIKE $path ESCAPE '\'", "$path", "%" + path.Replace(@"\", @"\\", StringComparison.Ordinal).Replace("%", @"\%", StringComparison.Ordinal).Replace("_", @"\_", StringComparison.Ordinal) + "%");
        }
        if (Client is { } client)
        {
            Add("client = $client", "$client", client);
        }
        // ts has no index: the time range becomes an id range on the primary key, and the exact ts condition stays
        // beside it (RequestLogSchema.FirstIdAtOrAfter).
        try
        {
            if (From is { } from)
            {
                Add("id >= $fromId AND ts >= $from", "$from", from.ToUnixTimeMilliseconds());
                command.Parameters.AddWithValue("$fromId", RequestLogSchema.FirstIdAtOrAfter(connection, from.ToUnixTimeMilliseconds()));
            }
            if (To is { } to)
            {
                Add("id < $toId AND ts <= $to", "$to", to.ToUnixTimeMilliseconds());
                command.Parameters.AddWithValue("$toId", RequestLogSchema.FirstIdAtOrAfter(connection, to.ToUnixTimeMilliseconds() + 1));
            }
        }
        catch (SqliteException ex) when (ex.SqliteErrorCode == 1)
        {
            return []; // no table yet: the writer has not created it
        }
        if (Before is { } before)
        {
            Add("id < $before", "$before", before);
        }
        command.CommandText = "SELECT id, ts, kind, service, token, method, host, path, status, duration_us, bytes_in, bytes_out, client, session, error FROM requests"
            + (where.Count > 0 ? " WHERE " + string.Join(" AND ", where) : "") + " ORDER BY id DESC LIMIT $limit";
        command.Parameters.AddWithValue("$limit", Limit);
        var rows = new List<LoggedRequest>();
        try
        {
            using var reader = command.ExecuteReader();
            while (reader.Read())
            {
                rows.Add(new LoggedRequest(reader.GetInt64(0), DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(1)), reader.GetString(2),
                    Text(reader, 3), Text(reader, 4), Text(reader, 5), Text(reader, 6), Text(reader, 7), reader.GetInt32(8), reader.GetInt64(9) / 1000.0,
                    reader.GetInt64(10), reader.GetInt64(11), Text(reader, 12), Text(reader, 13), reader.GetString(14)));
            }
        }
        catch (SqliteException ex) when (ex.SqliteErrorCode == 1)
        {
            return []; // no table yet: the writer has not created it
        }
        return rows;
    }

    private static string? Text(SqliteDataReader reader, int i) => reader.IsDBNull(i) ? null : reader.GetString(i);

    private static string? Blank(string? text) => string.IsNullOrWhiteSpace(text) ? null : text.Trim();

    private static DateTimeOffset? Time(string? text, string field, ref string? error)
    {
        if (Blank(text) is not { } value)
        {
            return null;
        }
        // The form's datetime-local gives "2026-12-01T10:30" (read as UTC, as the console shows times).
        if (DateTimeOffset.TryParse(value, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var time))
        {
            return time;
        }
        error = $"{field} '{value}' is not a time (e.g. 2026-12-01T10:30)";
        return null;
    }
}
