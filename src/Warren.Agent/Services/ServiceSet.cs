using System.Collections;
using System.Collections.Frozen;
using System.Diagnostics.CodeAnalysis;
using Warren.Configuration;

namespace Warren.Agent.Services;

/// <summary>
/// The services the agent serves, replaced as a whole on reload (docs/operations.md, "Reload"). Readers (the stream
/// dispatcher, for every stream) take the current snapshot without a lock. A service that did not change keeps its
/// <see cref="LocalService"/> (its slots and in-flight streams); a changed one gets a new one for new streams, while
/// streams already open finish on the old.
/// </summary>
internal sealed class ServiceSet : IReadOnlyDictionary<string, LocalService>
{
    private FrozenDictionary<string, LocalService> _serving;
    private IReadOnlyList<ServiceConfig> _published;

    public ServiceSet(IEnumerable<ServiceConfig> services)
    {
        _published = [.. services];
        _serving = _published.ToFrozenDictionary(s => s.Name, s => new LocalService(s), StringComparer.Ordinal);
    }

    /// <summary>What the agent registers with the edge (a session that connects registers exactly these).</summary>
    public IReadOnlyList<ServiceConfig> Published => Volatile.Read(ref _published);

    private FrozenDictionary<string, LocalService> Serving => Volatile.Read(ref _serving);

    /// <summary>
    /// Step one of a reload: serve <paramref name="next"/> and, until <see cref="Retire"/>, the services it drops (an
    /// edge may still open streams for them until it has the new registration); register <paramref name="next"/>
    /// from now on. Returns what was added, changed and removed.
    /// </summary>
    public (IReadOnlyList<string> Added, IReadOnlyList<string> Changed, IReadOnlyList<string> Removed) Publish(IReadOnlyList<ServiceConfig> next)
    {
        var old = Serving;
        var serving = new Dictionary<string, LocalService>(StringComparer.Ordinal);
        List<string> added = [], changed = [];
        foreach (var config in next)
        {
            if (old.TryGetValue(config.Name, out var kept) && Same(kept.Config, config))
            {
                serving[config.Name] = kept;
                continue;
            }
            (old.ContainsKey(config.Name) ? changed : added).Add(config.Name);
            serving[config.Name] = new LocalService(config);
        }
        var removed = old.Keys.Where(name => !serving.ContainsKey(name)).ToList();
        foreach (var name in removed)
        {
            serving[name] = old[name];
        }
        Volatile.Write(ref _serving, serving.ToFrozenDictionary(StringComparer.Ordinal));
        Volatile.Write(ref _published, next);
        return (added, changed, removed);
    }

    /// <summary>Step two, once every session registered the new set: removed services take no new streams (open ones finish).</summary>
    public void Retire()
    {
        var published = Published.Select(s => s.Name).ToHashSet(StringComparer.Ordinal);
        Volatile.Write(ref _serving, Serving.Where(p => published.Contains(p.Key)).ToFrozenDictionary(StringComparer.Ordinal));
    }

    private static bool Same(ServiceConfig a, ServiceConfig b) => ConfigReload.Same(a, b);

    public LocalService this[string key] => Serving[key];

    public IEnumerable<string> Keys => Serving.Keys;

    public IEnumerable<LocalService> Values => Serving.Values;

    public int Count => Serving.Count;

    public bool ContainsKey(string key) => Serving.ContainsKey(key);

    public bool TryGetValue(string key, [MaybeNullWhen(false)] out LocalService value) => Serving.TryGetValue(key, out value);

    public IEnumerator<KeyValuePair<string, LocalService>> GetEnumerator() => ((IEnumerable<KeyValuePair<string, LocalService>>)Serving).GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}
