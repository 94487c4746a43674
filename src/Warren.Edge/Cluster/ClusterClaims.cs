using System.Globalization;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;
using Warren.Edge.Routing;
using Warren.Protocol.Tunnel;

namespace Warren.Edge.Cluster;

/// <summary>
/// Hostname and port ownership across the cluster (docs/cluster.md, "Ownership"): a name is owned once in the
/// cluster, not once per edge. Each hostname, TCP port and private service name an agent registers is a Redis key
/// (<c>{prefix}claim:host:NAME</c>, <c>claim:port:N</c>, <c>claim:private:NAME</c>) holding the owning token's name
/// with a lease (cluster.lease). A claim is taken with one script (free → set with the lease; held by the same token →
/// lease renewed; held by another → refused), so two agents of different tokens racing on two edges cannot both win.
/// Every edge renews the claims of the services it routes every third of the lease; a name nobody serves any more is
/// free again when its lease ends. With Redis unreachable, a name this edge already routes for the token keeps
/// registering (its sessions reconnect), and only a new claim is refused (docs/cluster.md, "Redis unavailable").
/// </summary>
internal sealed partial class ClusterClaims : IDisposable
{
    // KEYS[1] the claim, ARGV[1] the token, ARGV[2] the lease in ms. 2: taken now; 1: already ours, renewed; 0: another's.
    private const string ClaimScript = """
        local holder = redis.call('GET', KEYS[1])
        if not holder then
          redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
          return 2
        end
        if holder == ARGV[1] then
          redis.call('PEXPIRE', KEYS[1], ARGV[2])
          return 1
        end
        return 0
        """;

    // Gives back a claim taken for a service whose other names were refused (only if still ours).
    private const string ReleaseScript = """
        if redis.call('GET', KEYS[1]) == ARGV[1] then
          return redis.call('DEL', KEYS[1])
        end
        return 0
        """;

    private readonly ClusterConnection _cluster;
    private readonly RouteTable _routes;
    private readonly ILogger _logger;
    private readonly ITimer _renewal;
    private int _renewing;

    public ClusterClaims(ClusterConnection cluster, RouteTable routes, TimeProvider time, ILogger logger)
    {
        _cluster = cluster;
        _routes = routes;
        _logger = logger;
        var every = cluster.Config.Lease / 3;
        _renewal = time.CreateTimer(static s => _ = ((ClusterClaims)s!).RenewAsync(), this, every, every);
        cluster.Restored += OnRestored;
    }

    private long LeaseMs => (long)_cluster.Config.Lease.TotalMilliseconds;

    /// <summary>The Redis keys a registration claims.</summary>
    internal static IEnumerable<(string Key, string What)> KeysOf(ServiceRegistration registration)
    {
        foreach (var host in registration.Hostnames)
        {
            yield return ("claim:host:" + host, "hostname " + host);
        }
        if (registration.Port is { } port)
        {
            yield return ("claim:port:" + port.ToString(CultureInfo.InvariantCulture), "port " + port.ToString(CultureInfo.InvariantCulture));
        }
        if (registration.Private == true)
        {
            yield return ("claim:private:" + registration.Name, "private service " + registration.Name);
        }
    }

    /// <summary>
    /// Claims each service's names for <paramref name="owner"/> in the cluster; a service whose names another token
    /// holds, or that needs a new claim while Redis is unreachable, comes back refused with why. Claims already refused
    /// (grant, policy, malformed) are left as they are.
    /// </summary>
    public async Task<IReadOnlyList<ServiceClaim>> ClaimAsync(string owner, IReadOnlyList<ServiceClaim> claims)
    {
        var heldHere = HeldHere(owner);
        var result = new List<ServiceClaim>(claims.Count);
        foreach (var claim in claims)
        {
            if (claim.Refusal is not null)
            {
                result.Add(claim);
                continue;
            }
            var refusal = await ClaimServiceAsync(owner, claim.Registration, heldHere).ConfigureAwait(false);
            result.Add(refusal is null ? claim : claim with { Refusal = refusal });
        }
        return result;
    }

    private async Task<string?> ClaimServiceAsync(string owner, ServiceRegistration registration, HashSet<string> heldHere)
    {
        var taken = new List<string>();
        foreach (var (key, what) in KeysOf(registration))
        {
            int? outcome = null;
            var failure = "not connected";
            // Known lost: refuse at once rather than wait in the client's backlog for its timeout.
            if (_cluster.IsConnected)
            {
                try
                {
                    outcome = (int)await _cluster.Database.ScriptEvaluateAsync(ClaimScript, [_cluster.Key(key)], [owner, LeaseMs]).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is RedisException or TimeoutException)
                {
                    failure = ex.Message;
                }
            }
            if (outcome is null)
            {
                if (heldHere.Contains(key))
                {
                    continue; // this edge routes it for this token already: a reconnecting session keeps it
                }
                await ReleaseAsync(owner, taken).ConfigureAwait(false);
                Log.Unreachable(_logger, owner, what, failure);
                return $"{what} cannot be claimed now: the cluster's shared state (Redis) is unreachable from edge {_cluster.EdgeName}; names already served keep working, and the agent can register it again once Redis is back (docs/cluster.md, \"Redis unavailable\")";
            }
            if (outcome == 0)
            {
                await ReleaseAsync(owner, taken).ConfigureAwait(false);
                Log.Lost(_logger, owner, what);
                return $"{what} is owned by another token in the cluster (claimed through another edge; docs/cluster.md, \"Ownership\")";
            }
            if (outcome == 2)
            {
                taken.Add(key);
            }
        }
        return null;
    }

    private async Task ReleaseAsync(string owner, List<string> keys)
    {
        foreach (var key in keys)
        {
            try
            {
                await _cluster.Database.ScriptEvaluateAsync(ReleaseScript, [_cluster.Key(key)], [owner]).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is RedisException or TimeoutException)
            {
                // Left to its lease: nobody renews it, so it is free again when the lease ends.
            }
        }
    }

    /// <summary>The claim keys of the services this edge routes for <paramref name="owner"/> now.</summary>
    private HashSet<string> HeldHere(string owner) =>
        [.. _routes.Services.Where(s => s.Owner == owner && !s.Sessions.IsEmpty).SelectMany(s => KeysOf(s.Registration)).Select(k => k.Key)];

    private void OnRestored() => _ = RenewAsync();

    /// <summary>
    /// Renews the lease of every name this edge routes (and takes it again when Redis came back empty, as after a
    /// restart without persistence). A name another token took meanwhile (a lease that ran out while this edge could
    /// not renew it) is logged: the table here still routes it, and the other edge's agent was told it won.
    /// </summary>
    internal async Task RenewAsync()
    {
        if (!_cluster.IsConnected || Interlocked.Exchange(ref _renewing, 1) == 1)
        {
            return; // Redis away (the restored event renews), or a renewal still running
        }
        try
        {
            var held = _routes.Services.Where(s => !s.Sessions.IsEmpty).SelectMany(s => KeysOf(s.Registration).Select(k => (s.Owner, k.Key, k.What))).ToList();
            var batch = _cluster.Database.CreateBatch();
            var answers = held.Select(h => (h, batch.ScriptEvaluateAsync(ClaimScript, [_cluster.Key(h.Key)], [h.Owner, LeaseMs]))).ToList();
            batch.Execute();
            foreach (var ((owner, _, what), answer) in answers)
            {
                if ((int)await answer.ConfigureAwait(false) == 0)
                {
                    Log.TakenMeanwhile(_logger, owner, what);
                }
            }
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            Log.RenewFailed(_logger, ex.Message);
        }
        finally
        {
            Volatile.Write(ref _renewing, 0);
        }
    }

    public void Dispose()
    {
        _cluster.Restored -= OnRestored;
        _renewal.Dispose();
    }

    private static partial class Log
    {
        [LoggerMessage(1720, LogLevel.Warning, "Cluster: token {Owner} was refused {What}: another token owns it in the cluster", EventName = "ClusterClaimLost")]
        public static partial void Lost(ILogger logger, string owner, string what);

        [LoggerMessage(1721, LogLevel.Warning, "Cluster: token {Owner} was refused {What}: Redis is unreachable ({Message}) and only names this edge already serves keep registering", EventName = "ClusterClaimUnreachable")]
        public static partial void Unreachable(ILogger logger, string owner, string what, string message);

        [LoggerMessage(1722, LogLevel.Warning, "Cluster: claims could not be renewed ({Message}); trying again at the next renewal", EventName = "ClusterClaimRenewFailed")]
        public static partial void RenewFailed(ILogger logger, string message);

        [LoggerMessage(1723, LogLevel.Error, "Cluster: {What}, served here for token {Owner}, is now held by another token in Redis (its lease ran out while this edge could not renew it)", EventName = "ClusterClaimTakenMeanwhile")]
        public static partial void TakenMeanwhile(ILogger logger, string owner, string what);
    }
}
