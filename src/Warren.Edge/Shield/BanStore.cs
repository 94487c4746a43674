using System.Net;
using System.Threading.Channels;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;
using Warren.Edge.Hosting;

namespace Warren.Edge.Shield;

/// <summary>
/// Bans in the edge's SQLite database (<c>{data}/warren.db</c>, beside the token store), so they survive a restart.
/// Read once at start; after that the request path never touches the file: <see cref="AbuseShield"/> queues each
/// change here (a channel write, no I/O) and one background task applies whatever is queued in one transaction.
/// </summary>
internal sealed partial class BanStore : IAsyncDisposable
{
    private readonly string _connectionString;
    private readonly Channel<Change> _changes = Channel.CreateUnbounded<Change>(new UnboundedChannelOptions { SingleReader = true });
    private readonly ILogger _logger;
    private readonly Task _writer;

    /// <summary>A ban to write (insert or replace), a network to delete, or every ban past <c>ExpiredAt</c> to delete.</summary>
    private readonly record struct Change(BanEntry? Ban, IPNetwork? Lift, DateTimeOffset? ExpiredAt);

    public BanStore(string dataDirectory, ILogger logger)
    {
        _logger = logger;
        PrivateFiles.CreateFolder(dataDirectory);
        DatabasePath = Path.Combine(dataDirectory, "warren.db");
        PrivateFiles.CreateIfMissing(DatabasePath); // 0600 before SQLite creates it (Tokens/TokenStore.cs)
        _connectionString = new SqliteConnectionStringBuilder { DataSource = DatabasePath, Pooling = false }.ToString();
        using (var connection = Open())
        using (var command = connection.CreateCommand())
        {
            command.CommandText = """
                PRAGMA journal_mode = WAL;
                CREATE TABLE IF NOT EXISTS bans (
                    address   TEXT PRIMARY KEY,
                    until_ms  INTEGER NOT NULL,
                    reason    TEXT NOT NULL,
                    banned_ms INTEGER NOT NULL
                );
                """;
            command.ExecuteNonQuery();
        }
        _writer = Task.Run(WriteAsync);
    }

    public string DatabasePath { get; }

    /// <summary>The bans still in force at <paramref name="now"/> (at start, before any request); expired ones are deleted.</summary>
    public List<BanEntry> Load(DateTimeOffset now)
    {
        using var connection = Open();
        using (var delete = connection.CreateCommand())
        {
            delete.CommandText = "DELETE FROM bans WHERE until_ms <= $now";
            delete.Parameters.AddWithValue("$now", now.ToUnixTimeMilliseconds());
            delete.ExecuteNonQuery();
        }
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT address, until_ms, reason, banned_ms FROM bans";
        using var reader = command.ExecuteReader();
        var bans = new List<BanEntry>();
        while (reader.Read())
        {
            // An address ("192.0.2.7") or a network ("2001:db8:1:2::/64", BanKey.Format). A row this edge did not write
            // (edited by hand) and that is neither is skipped, not fatal.
            if (Warren.Configuration.ConfigFormats.TryParseNetwork(reader.GetString(0), out var network))
            {
                bans.Add(new BanEntry(network, DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(1)), reader.GetString(2),
                    DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(3))));
            }
        }
        return bans;
    }

    /// <summary>Queues a ban to be written; never waits.</summary>
    public void Save(BanEntry ban) => _changes.Writer.TryWrite(new Change(ban, null, null));

    /// <summary>Queues a lifted ban's deletion; never waits.</summary>
    public void Delete(IPNetwork network) => _changes.Writer.TryWrite(new Change(null, network, null));

    /// <summary>Queues the deletion of every ban that ended by <paramref name="now"/>; never waits.</summary>
    public void DeleteExpired(DateTimeOffset now) => _changes.Writer.TryWrite(new Change(null, null, now));

    /// <summary>Waits until every change queued so far is in the file (tests; a clean stop).</summary>
    public async Task FlushAsync()
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _flushes.Enqueue(done);
        if (!_changes.Writer.TryWrite(default))
        {
            return; // stopped: the writer has written everything already
        }
        await done.Task.ConfigureAwait(false);
    }

    private readonly System.Collections.Concurrent.ConcurrentQueue<TaskCompletionSource> _flushes = new();

    private async Task WriteAsync()
    {
        var reader = _changes.Reader;
        var batch = new List<Change>();
        // The channel's continuations run on the thread pool (AllowSynchronousContinuations is false), so SQLite's
        // synchronous calls below never run on the thread of the request that queued a ban.
        while (await reader.WaitToReadAsync().ConfigureAwait(false))
        {
            while (reader.TryRead(out var change))
            {
                batch.Add(change);
            }
            try
            {
                Apply(batch);
            }
            catch (SqliteException ex)
            {
                // The bans stay in force in memory; only their persistence across a restart is lost.
                Log.WriteFailed(_logger, batch.Count, ex.Message);
            }
            batch.Clear();
            while (_flushes.TryDequeue(out var flushed))
            {
                flushed.TrySetResult();
            }
        }
    }

    private void Apply(List<Change> batch)
    {
        if (batch.TrueForAll(c => c is { Ban: null, Lift: null, ExpiredAt: null }))
        {
            return;
        }
        using var connection = Open();
        using var transaction = connection.BeginTransaction();
        foreach (var change in batch)
        {
            using var command = connection.CreateCommand();
            command.Transaction = transaction;
            if (change.Ban is { } ban)
            {
                command.CommandText = "INSERT OR REPLACE INTO bans (address, until_ms, reason, banned_ms) VALUES ($address, $until, $reason, $banned)";
                command.Parameters.AddWithValue("$address", BanKey.Format(ban.Network));
                command.Parameters.AddWithValue("$until", ban.Until.ToUnixTimeMilliseconds());
                command.Parameters.AddWithValue("$reason", ban.Reason);
                command.Parameters.AddWithValue("$banned", ban.BannedAt.ToUnixTimeMilliseconds());
            }
            else if (change.Lift is { } lift)
            {
                command.CommandText = "DELETE FROM bans WHERE address = $address";
                command.Parameters.AddWithValue("$address", BanKey.Format(lift));
            }
            else if (change.ExpiredAt is { } now)
            {
                command.CommandText = "DELETE FROM bans WHERE until_ms <= $now";
                command.Parameters.AddWithValue("$now", now.ToUnixTimeMilliseconds());
            }
            else
            {
                continue; // a flush marker
            }
            command.ExecuteNonQuery();
        }
        transaction.Commit();
    }

    private SqliteConnection Open()
    {
        var connection = new SqliteConnection(_connectionString);
        connection.Open();
        return connection;
    }

    public async ValueTask DisposeAsync()
    {
        _changes.Writer.TryComplete(); // what is queued is written, then the task ends
        await _writer.ConfigureAwait(false);
        while (_flushes.TryDequeue(out var flushed))
        {
            flushed.TrySetResult();
        }
    }

    private static partial class Log
    {
        [LoggerMessage(722, LogLevel.Warning, "Abuse shield: {Count} ban change(s) could not be written to warren.db (they hold until the edge restarts): {Message}", EventName = "ShieldWriteFailed")]
        public static partial void WriteFailed(ILogger logger, int count, string message);
    }
}
