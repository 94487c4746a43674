using System.Globalization;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace Warren.Edge.Cluster;

/// <summary>
/// The loop that shares the edge's counts with the cluster (docs/cluster.md, "Shared counts"): every
/// <c>cluster.sync_interval</c> it asks each source (policy rate limits, the abuse shield's strikes, token quotas) for
/// its live counts, writes this edge's field of each and reads the hash back, all in one pipelined batch of small Lua
/// scripts, and hands every count the other edges' fields. Nothing on the request path waits on it: requests are
/// judged by the local limiters and counts, which this loop only corrects. While Redis is away a round is skipped;
/// the counts go on locally and the first round after it returns writes them (absolute values: nothing lost, nothing
/// counted twice).
/// </summary>
internal sealed partial class ClusterCounters : IAsyncDisposable
{
    // Writes this edge's field (unless the value is empty), gives the hash its lifetime at its first write, and returns
    // the whole hash: one round trip per count, pipelined with the others.
    private const string SyncScript = """
        if ARGV[2] ~= '' then
          redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
          if redis.call('PTTL', KEYS[1]) < 0 then
            redis.call('PEXPIRE', KEYS[1], ARGV[3])
          end
        end
        return redis.call('HGETALL', KEYS[1])
        """;

    private readonly ClusterConnection _cluster;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly List<Func<IEnumerable<SharedCount>>> _sources = [];
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;
    private long _rounds;
    private int _failedLogged;

    public ClusterCounters(ClusterConnection cluster, TimeProvider time, ILogger logger)
    {
        (_cluster, _time, _logger) = (cluster, time, logger);
        Interval = cluster.Config.SyncInterval;
        _loop = Task.Run(RunAsync);
    }

    /// <summary>cluster.sync_interval: what bounds the overshoot of a shared limit.</summary>
    public TimeSpan Interval { get; }

    /// <summary>This edge's name: its field in every shared hash.</summary>
    public string EdgeName => _cluster.EdgeName;

    /// <summary>Rounds that reached Redis (tests wait for a few more to have passed).</summary>
    public long Rounds => Interlocked.Read(ref _rounds);

    /// <summary>The Redis key <paramref name="name"/> under the cluster's prefix, as a string for <see cref="SharedCount.Key"/>.</summary>
    public string Key(string name) => _cluster.Config.KeyPrefix + name;

    /// <summary>The clock the windows of the counts are read from.</summary>
    public DateTimeOffset Now => _time.GetUtcNow();

    /// <summary>Adds a source of counts, asked at every round (on the loop's thread; it must not block).</summary>
    public void Add(Func<IEnumerable<SharedCount>> source)
    {
        lock (_sources)
        {
            _sources.Add(source);
        }
    }

    private async Task RunAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(Interval, _time, _stop.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            try
            {
                await SyncAsync().ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                // Not Redis's doing (SyncAsync handles that): logged, and the loop goes on, or sharing would stop for good.
                Log.Unexpected(_logger, ex);
            }
        }
    }

    /// <summary>One round: every live count written and read back; false when Redis could not be reached.</summary>
    internal async Task<bool> SyncAsync()
    {
        if (!_cluster.IsConnected)
        {
            return false; // the counts go on locally; the round after Redis returns writes them
        }
        List<SharedCount> counts = [];
        lock (_sources)
        {
            foreach (var source in _sources)
            {
                counts.AddRange(source());
            }
        }
        try
        {
            if (counts.Count > 0)
            {
                var batch = _cluster.Database.CreateBatch();
                var answers = new Task<RedisResult>[counts.Count];
                var written = new long[counts.Count];
                for (var i = 0; i < counts.Count; i++)
                {
                    var count = counts[i];
                    var local = written[i] = count.Local;
                    answers[i] = batch.ScriptEvaluateAsync(SyncScript, [count.Key],
                        [count.Field, local > 0 ? local.ToString(CultureInfo.InvariantCulture) : "", (long)count.Lifetime.TotalMilliseconds]);
                }
                batch.Execute();
                for (var i = 0; i < counts.Count; i++)
                {
                    var result = await answers[i].ConfigureAwait(false);
                    counts[i].Synced(Entries(result), written[i]);
                }
            }
            Interlocked.Increment(ref _rounds);
            Volatile.Write(ref _failedLogged, 0);
            return true;
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            if (Interlocked.Exchange(ref _failedLogged, 1) == 0)
            {
                Log.Failed(_logger, ex.Message);
            }
            return false;
        }
    }

    private static HashEntry[] Entries(RedisResult result)
    {
        var items = (RedisResult[]?)result ?? [];
        var entries = new HashEntry[items.Length / 2];
        for (var i = 0; i < entries.Length; i++)
        {
            entries[i] = new HashEntry((RedisValue)items[2 * i], (RedisValue)items[2 * i + 1]);
        }
        return entries;
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        await _loop.ConfigureAwait(false);
        await SyncAsync().ConfigureAwait(false); // the last counts reach the others
        _stop.Dispose();
    }

    private static partial class Log
    {
        [LoggerMessage(1751, LogLevel.Error, "Cluster: a round of sharing counts failed", EventName = "ClusterCountsUnexpected")]
        public static partial void Unexpected(ILogger logger, Exception exception);

        [LoggerMessage(1750, LogLevel.Warning, "Cluster: counts could not be shared ({Message}); limits and quotas hold with this edge's own counts until the next round", EventName = "ClusterCountsFailed")]
        public static partial void Failed(ILogger logger, string message);
    }
}
