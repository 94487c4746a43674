using Microsoft.Extensions.Logging.Abstractions;
using Warren.Configuration;
using Warren.Edge.Cluster;

namespace Warren.Edge.Tokens;

/// <summary>The token store an edge.yaml names: the cluster's in Redis with <c>cluster:</c> (docs/cluster.md), else <c>{data}/warren.db</c>.</summary>
public static class TokenStores
{
    /// <summary>For <c>warren token</c>: the store the edges of <paramref name="config"/> read. Dispose it when done.</summary>
    public static ITokenStore Open(EdgeConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        if (config.Cluster is not { } cluster)
        {
            return new TokenStore(config.DataDirectory);
        }
        // A command-line tool, not the request path: it may wait for Redis here.
        var connection = ClusterConnection.ConnectAsync(cluster, NullLogger.Instance).GetAwaiter().GetResult();
        if (!connection.IsConnected)
        {
            connection.DisposeAsync().AsTask().GetAwaiter().GetResult();
            throw new InvalidOperationException($"the cluster's Redis ({cluster.Redis.Split(',')[0]}) is unreachable; tokens of a cluster live there (docs/cluster.md)");
        }
        var store = ClusterTokenStore.StartAsync(connection, TimeProvider.System, NullLogger.Instance).GetAwaiter().GetResult();
        store.OwnsConnection = true;
        return store;
    }
}
