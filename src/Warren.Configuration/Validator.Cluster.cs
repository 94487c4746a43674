using System.Text.RegularExpressions;

namespace Warren.Configuration;

/// <summary>edge.yaml's <c>cluster</c> (docs/configuration.md, "cluster"; docs/cluster.md).</summary>
internal static partial class Validator
{
    /// <summary>The shortest cluster secret: 32 characters, as the tokens' 256 random bits are at least.</summary>
    public const int MinClusterSecretLength = 32;

    private static void CheckCluster(Diagnostics d, ClusterConfig? cluster, List<(string Path, string Value)> listeners)
    {
        if (cluster is null)
        {
            return;
        }

        if (string.IsNullOrWhiteSpace(cluster.Redis))
        {
            d.Report("cluster.redis", "required: the Redis the edges share, as a StackExchange.Redis configuration string, e.g. 10.0.0.5:6379,password=${REDIS_PASSWORD}");
        }
        else if (!TryParseRedis(cluster.Redis, out var error))
        {
            d.Report("cluster.redis", $"is not a Redis configuration string: {error}; use e.g. 10.0.0.5:6379 or sentinel1:26379,sentinel2:26379,serviceName=warren");
        }

        if (string.IsNullOrEmpty(cluster.Name))
        {
            d.Report("cluster.name", "required: this edge's name in the cluster, unique among its edges, e.g. edge-1");
        }
        else if (!ClusterName().IsMatch(cluster.Name))
        {
            d.Report("cluster.name", $"'{LogText.Bound(cluster.Name, 64)}' is not a valid edge name; use 1 to 64 letters, digits, '-', '_' or '.'");
        }

        if (string.IsNullOrEmpty(cluster.Secret))
        {
            d.Report("cluster.secret", "required: the secret the edges prove to each other; give it as ${WARREN_CLUSTER_SECRET} or with secret_file, the same on every edge");
        }
        else if (cluster.Secret.Length < MinClusterSecretLength)
        {
            d.Report("cluster.secret", $"is {cluster.Secret.Length} characters; use at least {MinClusterSecretLength} (e.g. openssl rand -hex 32)");
        }

        CheckListen(d, "cluster.listen", cluster.Listen, required: true, listeners);
        if (cluster.Advertise is { } advertise)
        {
            if (!ConfigFormats.TryParseHostPort(advertise, out _, out var port) || port == 0)
            {
                d.Report("cluster.advertise", $"'{LogText.Bound(advertise, 64)}' is not host:port with a port; other edges dial it, e.g. 10.0.0.7:7444");
            }
        }
        else if (ConfigFormats.TryParseHostPort(cluster.Listen, out var host, out _)
            && (host is "*" or "0.0.0.0" or "::" || (System.Net.IPAddress.TryParse(host, out var ip) && ip.Equals(System.Net.IPAddress.IPv6Any))))
        {
            d.Report("cluster.advertise", $"required when cluster.listen ('{cluster.Listen}') is a wildcard address: the address other edges dial, e.g. 10.0.0.7:7444");
        }

        if (!ClusterPrefix().IsMatch(cluster.KeyPrefix))
        {
            d.Report("cluster.key_prefix", $"'{LogText.Bound(cluster.KeyPrefix, 64)}' is not a valid key prefix; use 1 to 64 letters, digits, '-', '_', '.' or ':', e.g. warren:");
        }

        CheckRange(d, "cluster.lease", cluster.Lease, TimeSpan.FromSeconds(3), TimeSpan.FromMinutes(10));
        CheckRange(d, "cluster.sync_interval", cluster.SyncInterval, TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(10));
    }

    private static bool TryParseRedis(string configuration, out string error)
    {
        // The same grammar StackExchange.Redis reads (comma-separated endpoints and key=value options); this library
        // does not reference it, so the check is of the shape only and the client reports the rest at start.
        foreach (var part in configuration.Split(',', StringSplitOptions.TrimEntries))
        {
            if (part.Length == 0)
            {
                error = "an empty item between commas";
                return false;
            }
            if (!part.Contains('=', StringComparison.Ordinal) && !ConfigFormats.TryParseHostPort(part.Contains(':', StringComparison.Ordinal) ? part : part + ":6379", out _, out var port))
            {
                error = $"'{LogText.Bound(part, 64)}' is neither host:port nor option=value";
                return false;
            }
        }
        error = "";
        return true;
    }

    [GeneratedRegex("^[A-Za-z0-9_.-]{1,64}$")]
    private static partial Regex ClusterName();

    [GeneratedRegex("^[A-Za-z0-9_.:-]{1,64}$")]
    private static partial Regex ClusterPrefix();
}
