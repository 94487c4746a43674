using System.Collections.Frozen;
using Warren.Configuration;
using Warren.Edge.Routing;

namespace Warren.Edge.Cluster;

/// <summary>
/// Which other edges hold a session for a hostname (with its path prefix) or a TCP port, from their heartbeats
/// (<see cref="ClusterRegistry"/>; docs/cluster.md, "Forwarding"). Rebuilt whole when the registry changes, read
/// without a lock by the request path: one immutable snapshot, matched as the route table matches (exact host, then
/// a one-label wildcard; longest path prefix first).
/// </summary>
internal sealed class PeerRoutes
{
    private Snapshot _snapshot = Snapshot.Empty;

    /// <summary>Raised after a rebuild that changed which TCP ports other edges serve.</summary>
    public event Action? PortsChanged;

    /// <summary>The edges other than this one that serve <paramref name="host"/> (a request key) at <paramref name="path"/>; empty when none.</summary>
    public string[] MatchHttp(string host, string path)
    {
        var hosts = Volatile.Read(ref _snapshot).Hosts;
        if (hosts.Count == 0)
        {
            return [];
        }
        host = HostNames.ToLowerAscii(host);
        if (hosts.TryGetValue(host, out var routes) && MatchPrefix(routes, path) is { } exact)
        {
            return exact;
        }
        var dot = host.IndexOf('.', StringComparison.Ordinal);
        return dot > 0 && hosts.TryGetValue(string.Concat("*", host.AsSpan(dot)), out routes) ? MatchPrefix(routes, path) ?? [] : [];
    }

    /// <summary>
    /// Whether another edge knows <paramref name="host"/> at <paramref name="path"/> without a session for it now (its
    /// agent restarts): a request for it waits for a session somewhere, then gets 503, never 404.
    /// </summary>
    public bool IsKnown(string host, string path)
    {
        var known = Volatile.Read(ref _snapshot).Known;
        if (known.Count == 0)
        {
            return false;
        }
        host = HostNames.ToLowerAscii(host);
        if (known.TryGetValue(host, out var routes) && MatchPrefix(routes, path) is not null)
        {
            return true;
        }
        var dot = host.IndexOf('.', StringComparison.Ordinal);
        return dot > 0 && known.TryGetValue(string.Concat("*", host.AsSpan(dot)), out routes) && MatchPrefix(routes, path) is not null;
    }

    /// <summary>Completes at the next rebuild (a wait for a session somewhere in the cluster).</summary>
    public Task Updated => Volatile.Read(ref _updated).Task;

    private TaskCompletionSource _updated = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>The edges other than this one that hold a session for TCP port <paramref name="port"/>.</summary>
    public string[] MatchPort(int port) => Volatile.Read(ref _snapshot).Ports.GetValueOrDefault(port) ?? [];

    /// <summary>Every TCP port some other edge serves.</summary>
    public IReadOnlyCollection<int> Ports => Volatile.Read(ref _snapshot).Ports.Keys;

    private static string[]? MatchPrefix((string Prefix, string[] Edges)[] routes, string path)
    {
        foreach (var (prefix, edges) in routes)
        {
            if (RouteTable.PrefixMatches(prefix, path))
            {
                return edges;
            }
        }
        return null;
    }

    /// <summary>Rebuilds from the registry's view, leaving out <paramref name="self"/>.</summary>
    public void Update(IEnumerable<ClusterRegistry.EdgeRecord> edges, string self)
    {
        var hosts = new Dictionary<string, Dictionary<string, List<string>>>(StringComparer.Ordinal);
        var known = new Dictionary<string, Dictionary<string, List<string>>>(StringComparer.Ordinal);
        var ports = new Dictionary<int, List<string>>();
        foreach (var edge in edges.Where(e => e.Name != self).OrderBy(e => e.Name, StringComparer.Ordinal))
        {
            foreach (var route in edge.Http)
            {
                Add(hosts, route, edge.Name);
            }
            foreach (var route in edge.Known)
            {
                Add(known, route, edge.Name);
            }
            foreach (var port in edge.Tcp)
            {
                if (!ports.TryGetValue(port, out var holders))
                {
                    ports[port] = holders = [];
                }
                holders.Add(edge.Name);
            }
        }
        var next = new Snapshot(Freeze(hosts), ports.ToFrozenDictionary(p => p.Key, p => p.Value.ToArray()), Freeze(known));
        var previous = Interlocked.Exchange(ref _snapshot, next);
        Interlocked.Exchange(ref _updated, new(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
        if (!previous.Ports.Keys.Order().SequenceEqual(next.Ports.Keys.Order()))
        {
            PortsChanged?.Invoke();
        }
    }

    private static void Add(Dictionary<string, Dictionary<string, List<string>>> hosts, string route, string edge)
    {
        var slash = route.IndexOf('/', StringComparison.Ordinal);
        var (host, prefix) = slash < 0 ? (route, "") : (route[..slash], route[slash..]);
        if (!hosts.TryGetValue(host, out var prefixes))
        {
            hosts[host] = prefixes = new(StringComparer.Ordinal);
        }
        if (!prefixes.TryGetValue(prefix, out var holders))
        {
            prefixes[prefix] = holders = [];
        }
        holders.Add(edge);
    }

    private static FrozenDictionary<string, (string Prefix, string[] Edges)[]> Freeze(Dictionary<string, Dictionary<string, List<string>>> hosts) =>
        hosts.ToFrozenDictionary(h => h.Key, h => h.Value.OrderByDescending(p => p.Key.Length).Select(p => (p.Key, p.Value.ToArray())).ToArray(), StringComparer.Ordinal);

    private sealed record Snapshot(FrozenDictionary<string, (string Prefix, string[] Edges)[]> Hosts, FrozenDictionary<int, string[]> Ports,
        FrozenDictionary<string, (string Prefix, string[] Edges)[]> Known)
    {
        public static readonly Snapshot Empty = new(FrozenDictionary<string, (string, string[])[]>.Empty, FrozenDictionary<int, string[]>.Empty,
            FrozenDictionary<string, (string, string[])[]>.Empty);
    }
}
