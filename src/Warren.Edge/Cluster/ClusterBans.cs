using System.Net;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;
using Warren.Edge.Shield;

namespace Warren.Edge.Cluster;

/// <summary>
/// The abuse shield's bans shared by a cluster's edges (docs/cluster.md, "Bans"): a client banned on one edge (by its
/// strikes or by hand) is refused by every edge, and a lift on one edge lifts it everywhere. Each edge still decides
/// from its own memory (AbuseShield), so the accept path never waits on Redis: a ban or lift here is a fire-and-forget
/// write of the hash <c>{prefix}bans</c> (a field per network) and a message on <c>{prefix}bans</c>; every other edge
/// applies the message to its own shield (and its warren.db). An edge reads the hash at start and after each reconnect,
/// so bans made while it was away reach it too; fields whose ban ended are removed when read.
/// </summary>
internal sealed partial class ClusterBans : IDisposable
{
    private readonly ClusterConnection _cluster;
    private readonly AbuseShield _shield;
    private readonly ILogger _logger;
    private readonly RedisKey _hash;
    private readonly RedisChannel _channel;

    private ClusterBans(ClusterConnection cluster, AbuseShield shield, ILogger logger)
    {
        _cluster = cluster;
        _shield = shield;
        _logger = logger;
        _hash = cluster.Key("bans");
        _channel = cluster.Channel("bans");
        shield.Banned += OnBanned;
        shield.Lifted += OnLifted;
        cluster.Restored += OnRestored;
    }

    public static async Task<ClusterBans> StartAsync(ClusterConnection cluster, AbuseShield shield, ILogger logger)
    {
        var bans = new ClusterBans(cluster, shield, logger);
        try
        {
            await cluster.Subscriber.SubscribeAsync(bans._channel, (_, message) => bans.OnMessage(message)).ConfigureAwait(false);
            await bans.LoadAsync().ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            Log.Failed(logger, ex.Message); // the restored event loads them once Redis answers
        }
        return bans;
    }

    /// <summary>A ban made here (strikes or the admin API): told to the cluster without waiting (the accept path may be the caller).</summary>
    private void OnBanned(BanEntry ban)
    {
        var record = JsonSerializer.Serialize(new BanRecord
        {
            Network = ban.Network.ToString(), Until = ban.Until, Reason = ban.Reason, BannedAt = ban.BannedAt, Edge = _cluster.EdgeName,
        }, BanJson.Default.BanRecord);
        Send(db => db.HashSetAsync(_hash, ban.Network.ToString(), record, flags: CommandFlags.FireAndForget), "ban " + record);
    }

    private void OnLifted(IPNetwork network) =>
        Send(db => db.HashDeleteAsync(_hash, network.ToString(), CommandFlags.FireAndForget), "lift " + _cluster.EdgeName + " " + network);

    private void Send(Func<IDatabase, Task> write, string message)
    {
        if (!_cluster.IsConnected)
        {
            return; // the hash is caught up by no one: this edge's ban stays its own (docs/cluster.md, "Redis unavailable")
        }
        try
        {
            _ = write(_cluster.Database);
            _ = _cluster.Subscriber.PublishAsync(_channel, message, CommandFlags.FireAndForget);
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            Log.Failed(_logger, ex.Message);
        }
    }

    private void OnMessage(RedisValue message)
    {
        var text = (string?)message ?? "";
        if (text.StartsWith("ban ", StringComparison.Ordinal))
        {
            if (Parse(text[4..]) is { } record && record.Edge != _cluster.EdgeName)
            {
                Apply(record);
            }
        }
        else if (text.StartsWith("lift ", StringComparison.Ordinal) && text[5..].Split(' ') is [var edge, var network]
            && edge != _cluster.EdgeName && IPNetwork.TryParse(network, out var parsed))
        {
            _shield.Lift(parsed, fromCluster: true);
        }
    }

    private void Apply(BanRecord record)
    {
        if (IPNetwork.TryParse(record.Network, out var network) && record.Until - _shield.Now is { } left && left > TimeSpan.Zero)
        {
            _shield.Ban(network, left, record.Reason ?? "banned on another edge", cause: "cluster", fromCluster: true);
        }
    }

    private void OnRestored() => _ = CatchUpAsync();

    private async Task CatchUpAsync()
    {
        try
        {
            await LoadAsync().ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            Log.Failed(_logger, ex.Message);
        }
    }

    /// <summary>Applies every ban in the hash that is still in force and not already here; removes those that ended.</summary>
    private async Task LoadAsync()
    {
        var entries = await _cluster.Database.HashGetAllAsync(_hash).ConfigureAwait(false);
        var known = _shield.List().Select(b => b.Network).ToHashSet();
        foreach (var entry in entries)
        {
            if (Parse(entry.Value!) is not { } record || record.Until <= _shield.Now)
            {
                await _cluster.Database.HashDeleteAsync(_hash, entry.Name).ConfigureAwait(false);
                continue;
            }
            if (IPNetwork.TryParse(record.Network, out var network) && !known.Contains(network))
            {
                Apply(record);
            }
        }
    }

    private static BanRecord? Parse(string json)
    {
        try
        {
            return JsonSerializer.Deserialize(json, BanJson.Default.BanRecord);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    public void Dispose()
    {
        _shield.Banned -= OnBanned;
        _shield.Lifted -= OnLifted;
        _cluster.Restored -= OnRestored;
    }

    /// <summary>A ban as kept in Redis and sent on the channel (docs/cluster.md, "Redis keys").</summary>
    internal sealed record BanRecord
    {
        [JsonPropertyName("network")] public string Network { get; init; } = "";
        [JsonPropertyName("until")] public DateTimeOffset Until { get; init; }
        [JsonPropertyName("reason")] public string? Reason { get; init; }
        [JsonPropertyName("banned_at")] public DateTimeOffset BannedAt { get; init; }
        [JsonPropertyName("edge")] public string Edge { get; init; } = "";
    }

    [JsonSerializable(typeof(BanRecord))]
    private sealed partial class BanJson : JsonSerializerContext;

    private static partial class Log
    {
        [LoggerMessage(1740, LogLevel.Warning, "Cluster: bans could not be shared or read ({Message}); this edge's bans stay in force", EventName = "ClusterBansFailed")]
        public static partial void Failed(ILogger logger, string message);
    }
}
