using System.Collections.Concurrent;
using System.Diagnostics.CodeAnalysis;

namespace Warren.Net.Collections;

/// <summary>
/// A concurrent dictionary read on a hot path and written seldom, whose emptiness is one volatile read.
/// <see cref="ConcurrentDictionary{TKey,TValue}.IsEmpty"/> takes every one of the dictionary's locks when it finds no
/// entry, so a check made per request against a dictionary that is almost always empty (services inspected, pending
/// ACME challenges) took every lock on every request, from every core. Writes take one lock of their own and keep the
/// flag; lookups stay lock-free.
/// </summary>
internal sealed class RarelyWrittenDictionary<TKey, TValue>(IEqualityComparer<TKey> comparer) where TKey : notnull
{
    private readonly ConcurrentDictionary<TKey, TValue> _entries = new(comparer);
    private readonly Lock _writes = new();
    private volatile bool _any;

    public bool IsEmpty => !_any;

    public bool TryGetValue(TKey key, [MaybeNullWhen(false)] out TValue value) => _entries.TryGetValue(key, out value);

    public bool ContainsKey(TKey key) => _entries.ContainsKey(key);

    public void Set(TKey key, TValue value)
    {
        lock (_writes)
        {
            _entries[key] = value;
            _any = true;
        }
    }

    public bool Remove(TKey key)
    {
        lock (_writes)
        {
            var removed = _entries.TryRemove(key, out _);
            _any = !_entries.IsEmpty;
            return removed;
        }
    }
}
