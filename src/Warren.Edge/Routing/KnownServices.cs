using System.Text.Json;
using System.Threading.Channels;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;
using Warren.Edge.Hosting;
using Warren.Protocol.Tunnel;

namespace Warren.Edge.Routing;

/// <summary>
/// The services the edge routes (registered now, or offline), kept in <c>{data}/warren.db</c> so that after a restart or
/// an upgrade a hostname the edge knew answers 503 or waits in the grace queue, never 404, until its agent registers
/// it again or <c>grace.remember</c> passes (docs/operations.md, "The grace queue"). Only what routes a request is
/// kept (name, kind, hostnames, path prefix, port), never a policy: policies may hold secrets, and come back with the
/// registration.
/// <para>
/// The route table is never written from the request path or under its lock: a change only signals the background
/// writer, which compares the routed set with what it last wrote and writes the difference in one transaction.
/// During an upgrade two edges share the file: both use WAL, and Microsoft.Data.Sqlite retries a busy database for the
/// command timeout (30 s), so they take turns; each deletes only rows it wrote or read itself and no longer routes.
/// </para>
/// </summary>
internal sealed partial class KnownServices : IAsyncDisposable
{
    private readonly RouteTable _routes;
    private readonly ILogger _logger;
    private readonly string _connectionString;
    private readonly Channel<TaskCompletionSource?> _signals = Channel.CreateUnbounded<TaskCompletionSource?>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Dictionary<string, (ServiceRegistration Registration, string Json)> _written = new(StringComparer.Ordinal);
    private readonly Task _writer;

    public KnownServices(string dataDirectory, RouteTable routes, ILogger logger)
    {
        _routes = routes;
        _logger = logger;
        PrivateFiles.CreateFolder(dataDirectory);
        var path = Path.Combine(dataDirectory, "warren.db");
        PrivateFiles.CreateIfMissing(path); // 0600 before SQLite creates it (Tokens/TokenStore.cs)
        _connectionString = new SqliteConnectionStringBuilder { DataSource = path, Pooling = false }.ToString();
        using (var connection = Open())
        using (var command = connection.CreateCommand())
        {
            command.CommandText = """
                PRAGMA journal_mode = WAL;
                CREATE TABLE IF NOT EXISTS known_services (
                    owner        TEXT NOT NULL,
                    name         TEXT NOT NULL,
                    registration TEXT NOT NULL,
                    PRIMARY KEY (owner, name)
                );
                """;
            command.ExecuteNonQuery();
        }
        _writer = Task.Run(WriteAsync);
    }

    /// <summary>
    /// Reads the services known before this start and routes them, restored, in <see cref="RouteTable.Restore"/>
    /// (at start, before any listener accepts). <paramref name="restore"/> false (grace.remember 0) routes none,
    /// and the rows go at the first write.
    /// </summary>
    public int Restore(bool restore)
    {
        var known = new List<(string, ServiceRegistration)>();
        using (var connection = Open())
        using (var command = connection.CreateCommand())
        {
            command.CommandText = "SELECT owner, name, registration FROM known_services";
            using var reader = command.ExecuteReader();
            while (reader.Read())
            {
                var (owner, name, json) = (reader.GetString(0), reader.GetString(1), reader.GetString(2));
                ServiceRegistration? registration;
                try
                {
                    registration = JsonSerializer.Deserialize(json, KnownServicesJson.Default.ServiceRegistration);
                }
                catch (JsonException ex)
                {
                    Log.Unreadable(_logger, owner, name, ex.Message);
                    continue;
                }
                if (registration is null || registration.Name != name)
                {
                    continue;
                }
                _written[owner + "/" + name] = (registration, json);
                known.Add((owner, registration));
            }
        }
        if (restore)
        {
            _routes.Restore(known);
        }
        _routes.Changed += Signal;
        Signal();
        return restore ? known.Count : 0;
    }

    private void Signal() => _signals.Writer.TryWrite(null);

    /// <summary>Waits until the routed set as it is now is in the file (tests; a clean stop).</summary>
    public async Task FlushAsync()
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        if (_signals.Writer.TryWrite(done))
        {
            await done.Task.ConfigureAwait(false);
        }
    }

    private async Task WriteAsync()
    {
        var reader = _signals.Reader;
        var flushes = new List<TaskCompletionSource>();
        // The channel's continuations run on the thread pool: SQLite's synchronous calls never run on a session's thread.
        while (await reader.WaitToReadAsync().ConfigureAwait(false))
        {
            while (reader.TryRead(out var flush))
            {
                if (flush is not null)
                {
                    flushes.Add(flush);
                }
            }
            try
            {
                Write();
            }
            catch (SqliteException ex)
            {
                // Routing goes on from memory; only what a restart remembers is behind. The next change writes again.
                Log.WriteFailed(_logger, ex.Message);
            }
            foreach (var flush in flushes)
            {
                flush.TrySetResult();
            }
            flushes.Clear();
        }
    }

    private void Write()
    {
        var now = new Dictionary<string, (string Owner, ServiceRegistration Registration)>(StringComparer.Ordinal);
        foreach (var entry in _routes.AllEntries)
        {
            now[entry.Owner + "/" + entry.Name] = (entry.Owner, entry.Registration);
        }
        var upserts = new List<(string Key, string Owner, ServiceRegistration Registration, string Json)>();
        foreach (var (key, (owner, registration)) in now)
        {
            if (_written.TryGetValue(key, out var written) && ReferenceEquals(written.Registration, registration))
            {
                continue;
            }
            var json = JsonSerializer.Serialize(registration with { Policy = null }, KnownServicesJson.Default.ServiceRegistration);
            if (written.Json != json)
            {
                upserts.Add((key, owner, registration, json));
            }
            else
            {
                _written[key] = (registration, json);
            }
        }
        var deletes = _written.Keys.Where(k => !now.ContainsKey(k)).ToList();
        if (upserts.Count == 0 && deletes.Count == 0)
        {
            return;
        }
        using var connection = Open();
        using var transaction = connection.BeginTransaction(); // BEGIN IMMEDIATE: waits for the other edge's write, never fails half-way
        foreach (var (_, owner, registration, json) in upserts)
        {
            using var command = connection.CreateCommand();
            command.Transaction = transaction;
            command.CommandText = "INSERT OR REPLACE INTO known_services (owner, name, registration) VALUES ($owner, $name, $registration)";
            command.Parameters.AddWithValue("$owner", owner);
            command.Parameters.AddWithValue("$name", registration.Name);
            command.Parameters.AddWithValue("$registration", json);
            command.ExecuteNonQuery();
        }
        foreach (var key in deletes)
        {
            var slash = key.IndexOf('/', StringComparison.Ordinal);
            using var command = connection.CreateCommand();
            command.Transaction = transaction;
            command.CommandText = "DELETE FROM known_services WHERE owner = $owner AND name = $name";
            command.Parameters.AddWithValue("$owner", key[..slash]);
            command.Parameters.AddWithValue("$name", key[(slash + 1)..]);
            command.ExecuteNonQuery();
        }
        transaction.Commit();
        foreach (var (key, _, registration, json) in upserts)
        {
            _written[key] = (registration, json);
        }
        foreach (var key in deletes)
        {
            _written.Remove(key);
        }
    }

    private SqliteConnection Open()
    {
        var connection = new SqliteConnection(_connectionString);
        connection.Open();
        return connection;
    }

    public async ValueTask DisposeAsync()
    {
        _routes.Changed -= Signal;
        _signals.Writer.TryWrite(null); // the routes as they are at the stop, then the writer ends
        _signals.Writer.TryComplete();
        await _writer.ConfigureAwait(false);
    }

    private static partial class Log
    {
        [LoggerMessage(1100, LogLevel.Warning, "Known services: the routes could not be written to warren.db (a restart remembers older ones): {Message}", EventName = "KnownServicesWriteFailed")]
        public static partial void WriteFailed(ILogger logger, string message);

        [LoggerMessage(1101, LogLevel.Warning, "Known services: the row of {Owner}/{Name} in warren.db is unreadable and is skipped: {Message}", EventName = "KnownServiceUnreadable")]
        public static partial void Unreadable(ILogger logger, string owner, string name, string message);
    }
}
