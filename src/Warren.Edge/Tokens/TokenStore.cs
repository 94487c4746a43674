using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.Data.Sqlite;
using Warren.Edge.Hosting;
using Warren.Configuration;

namespace Warren.Edge.Tokens;

/// <summary>A stored agent token: its name, grants and state. The secret itself is never stored, only its SHA-256.</summary>
public sealed record StoredToken(string Name, IReadOnlyList<string> AllowHosts, IReadOnlyList<int> AllowPorts, int? MaxSessions, DateTimeOffset CreatedAt, DateTimeOffset? RevokedAt)
{
    internal byte[] Hash { get; init; } = [];

    /// <summary>Bytes per day or month the token's services may move (docs/console.md, "Quotas"); null: unlimited.</summary>
    public QuotaConfig? Quota { get; init; }

    /// <summary>Private services the token may publish (docs/operations.md, "Private services").</summary>
    public IReadOnlyList<string> AllowPrivate { get; init; } = [];

    /// <summary>Private services the token may reach with <c>warren connect</c>.</summary>
    public IReadOnlyList<string> AllowConnect { get; init; } = [];
}

/// <summary>What a token may do with private services (docs/operations.md, "Private services"): publish them, reach them.</summary>
public sealed record PrivateGrant(IReadOnlyList<string> Publish, IReadOnlyList<string> Connect)
{
    public static PrivateGrant None { get; } = new([], []);
}

/// <summary>
/// Agent tokens in the edge's embedded SQLite database (<c>{data}/warren.db</c>), created on first use. The CLI
/// writes it (<c>warren token create|list|revoke</c>); the running edge re-reads it every few seconds, so a revoke
/// takes effect on live sessions within seconds.
/// </summary>
public sealed class TokenStore : ITokenStore
{
    /// <summary>Tokens carry a recognisable prefix (as GitHub's do) so leaked ones are easy to spot in logs and scanners.</summary>
    public const string TokenPrefix = "wrn_";

    private readonly string _connectionString;

    public TokenStore(string dataDirectory)
    {
        // Token hashes and grants: the folder 0700 and the database 0600 from the start (SQLite gives its -wal and -shm
        // files the database's mode). A chmod after SQLite had created it 0644 left a window, and left it readable.
        PrivateFiles.CreateFolder(dataDirectory);
        DatabasePath = Path.Combine(dataDirectory, "warren.db");
        PrivateFiles.CreateIfMissing(DatabasePath);
        _connectionString = new SqliteConnectionStringBuilder { DataSource = DatabasePath, Pooling = false }.ToString();
        using var connection = Open();
        using var command = connection.CreateCommand();
        command.CommandText = """
            PRAGMA journal_mode = WAL;
            CREATE TABLE IF NOT EXISTS tokens (
                name         TEXT PRIMARY KEY,
                sha256       BLOB NOT NULL UNIQUE,
                allow_hosts  TEXT NOT NULL,
                allow_ports  TEXT NOT NULL,
                max_sessions INTEGER,
                created_at   TEXT NOT NULL,
                revoked_at   TEXT
            );
            """;
        command.ExecuteNonQuery();
        AddColumnIfMissing(connection, "quota_daily", "INTEGER");
        AddColumnIfMissing(connection, "quota_monthly", "INTEGER");
        AddColumnIfMissing(connection, "allow_private", "TEXT");
        AddColumnIfMissing(connection, "allow_connect", "TEXT");
    }

    /// <summary>Columns added after the first release: a database created by an older edge gains them in place.</summary>
    private static void AddColumnIfMissing(SqliteConnection connection, string column, string type)
    {
        using var check = connection.CreateCommand();
        check.CommandText = "SELECT COUNT(*) FROM pragma_table_info('tokens') WHERE name = $name";
        check.Parameters.AddWithValue("$name", column);
        if ((long)check.ExecuteScalar()! == 0)
        {
            using var alter = connection.CreateCommand();
            alter.CommandText = $"ALTER TABLE tokens ADD COLUMN {column} {type}";
            alter.ExecuteNonQuery();
        }
    }

    public string DatabasePath { get; }

    public string Location => DatabasePath;

    /// <summary>Never raised: the edge polls the database (<see cref="HasChanged"/>).</summary>
    public event Action? Updated { add { } remove { } }

    /// <summary>A new secret: the prefix and 256 random bits, base64url.</summary>
    internal static string NewSecret() =>
        TokenPrefix + Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    /// <summary>Creates a token and returns its secret: 256 random bits, shown once, never stored.</summary>
    public string Create(string name, IReadOnlyList<string> allowHosts, IReadOnlyList<int> allowPorts, int? maxSessions, QuotaConfig? quota = null, PrivateGrant? privateServices = null)
    {
        privateServices ??= PrivateGrant.None;
        var secret = NewSecret();
        using var connection = Open();
        using var command = connection.CreateCommand();
        command.CommandText = "INSERT INTO tokens (name, sha256, allow_hosts, allow_ports, max_sessions, created_at, quota_daily, quota_monthly, allow_private, allow_connect) VALUES ($name, $hash, $hosts, $ports, $max, $created, $daily, $monthly, $private, $connect)";
        command.Parameters.AddWithValue("$name", name);
        command.Parameters.AddWithValue("$hash", SHA256.HashData(Encoding.UTF8.GetBytes(secret)));
        command.Parameters.AddWithValue("$hosts", JsonSerializer.Serialize(allowHosts, TokenColumnsJson.Default.IReadOnlyListString));
        command.Parameters.AddWithValue("$ports", JsonSerializer.Serialize(allowPorts, TokenColumnsJson.Default.IReadOnlyListInt32));
        command.Parameters.AddWithValue("$max", (object?)maxSessions ?? DBNull.Value);
        command.Parameters.AddWithValue("$created", DateTimeOffset.UtcNow.ToString("O"));
        command.Parameters.AddWithValue("$daily", (object?)quota?.Daily ?? DBNull.Value);
        command.Parameters.AddWithValue("$monthly", (object?)quota?.Monthly ?? DBNull.Value);
        command.Parameters.AddWithValue("$private", JsonSerializer.Serialize(privateServices.Publish, TokenColumnsJson.Default.IReadOnlyListString));
        command.Parameters.AddWithValue("$connect", JsonSerializer.Serialize(privateServices.Connect, TokenColumnsJson.Default.IReadOnlyListString));
        try
        {
            command.ExecuteNonQuery();
        }
        catch (SqliteException ex) when (ex.SqliteErrorCode == 19) // SQLITE_CONSTRAINT
        {
            throw new InvalidOperationException($"a token named '{name}' already exists (revoked tokens keep their name)", ex);
        }
        return secret;
    }

    /// <summary>Marks a token revoked; false when no active token has that name.</summary>
    public bool Revoke(string name)
    {
        using var connection = Open();
        using var command = connection.CreateCommand();
        command.CommandText = "UPDATE tokens SET revoked_at = $now WHERE name = $name AND revoked_at IS NULL";
        command.Parameters.AddWithValue("$name", name);
        command.Parameters.AddWithValue("$now", DateTimeOffset.UtcNow.ToString("O"));
        return command.ExecuteNonQuery() == 1;
    }

    private SqliteConnection? _watch;
    private long _lastVersion = -1;

    /// <summary>
    /// True when another connection (the CLI) committed since the last call. One connection stays open for this and
    /// asks SQLite's <c>PRAGMA data_version</c>, so polling every few seconds costs a few microseconds, not a query.
    /// </summary>
    public bool HasChanged()
    {
        _watch ??= Open();
        using var command = _watch.CreateCommand();
        command.CommandText = "PRAGMA data_version";
        var version = (long)command.ExecuteScalar()!;
        var changed = version != _lastVersion;
        _lastVersion = version;
        return changed;
    }

    public IReadOnlyList<StoredToken> List()
    {
        using var connection = Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT name, sha256, allow_hosts, allow_ports, max_sessions, created_at, revoked_at, quota_daily, quota_monthly, allow_private, allow_connect FROM tokens ORDER BY name";
        using var reader = command.ExecuteReader();
        var tokens = new List<StoredToken>();
        while (reader.Read())
        {
            tokens.Add(new StoredToken(
                reader.GetString(0),
                JsonSerializer.Deserialize(reader.GetString(2), TokenColumnsJson.Default.StringArray) ?? [],
                JsonSerializer.Deserialize(reader.GetString(3), TokenColumnsJson.Default.Int32Array) ?? [],
                reader.IsDBNull(4) ? null : reader.GetInt32(4),
                DateTimeOffset.Parse(reader.GetString(5), System.Globalization.CultureInfo.InvariantCulture),
                reader.IsDBNull(6) ? null : DateTimeOffset.Parse(reader.GetString(6), System.Globalization.CultureInfo.InvariantCulture))
            {
                Hash = (byte[])reader.GetValue(1),
                Quota = reader.IsDBNull(7) && reader.IsDBNull(8) ? null
                    : new QuotaConfig { Daily = reader.IsDBNull(7) ? null : reader.GetInt64(7), Monthly = reader.IsDBNull(8) ? null : reader.GetInt64(8) },
                AllowPrivate = reader.IsDBNull(9) ? [] : JsonSerializer.Deserialize(reader.GetString(9), TokenColumnsJson.Default.StringArray) ?? [],
                AllowConnect = reader.IsDBNull(10) ? [] : JsonSerializer.Deserialize(reader.GetString(10), TokenColumnsJson.Default.StringArray) ?? [],
            });
        }
        return tokens;
    }

    public void Dispose() => _watch?.Dispose();

    private SqliteConnection Open()
    {
        var connection = new SqliteConnection(_connectionString);
        connection.Open();
        return connection;
    }
}

/// <summary>The token table's list columns (allowed hosts, ports and private services) as JSON arrays, source-generated.</summary>
[JsonSerializable(typeof(IReadOnlyList<string>))]
[JsonSerializable(typeof(IReadOnlyList<int>))]
[JsonSerializable(typeof(string[]))]
[JsonSerializable(typeof(int[]))]
internal sealed partial class TokenColumnsJson : JsonSerializerContext;
