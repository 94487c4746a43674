using Warren.Net.Collections;

namespace Warren.Edge.Tests.Collections;

/// <summary>
/// The dictionary behind per-request emptiness checks (inspected services, pending ACME challenges): its IsEmpty is a
/// flag the writers keep, so it must follow every write, also when writers race.
/// </summary>
public sealed class RarelyWrittenDictionaryTests
{
    [Fact]
    public void Empty_follows_sets_and_removes()
    {
        var entries = new RarelyWrittenDictionary<string, int>(StringComparer.OrdinalIgnoreCase);
        Assert.True(entries.IsEmpty);

        entries.Set("a", 1);
        entries.Set("A", 2); // the comparer decides what is one key
        Assert.False(entries.IsEmpty);
        Assert.True(entries.TryGetValue("a", out var value));
        Assert.Equal(2, value);

        entries.Set("b", 3);
        Assert.True(entries.Remove("a"));
        Assert.False(entries.Remove("a"));
        Assert.False(entries.IsEmpty);
        Assert.False(entries.ContainsKey("a"));

        Assert.True(entries.Remove("B"));
        Assert.True(entries.IsEmpty);
        Assert.False(entries.TryGetValue("b", out _));
    }

    [Fact]
    public async Task Racing_writers_leave_the_flag_matching_the_entries()
    {
        var entries = new RarelyWrittenDictionary<int, bool>(EqualityComparer<int>.Default);
        using var start = new Barrier(4);
        var writers = Enumerable.Range(0, 4).Select(w => Task.Run(() =>
        {
            start.SignalAndWait();
            for (var i = 0; i < 20_000; i++)
            {
                var key = (w * 7) + (i % 7);
                if (i % 2 == 0)
                {
                    entries.Set(key, true);
                }
                else
                {
                    entries.Remove(key);
                }
            }
            // Every writer ends by removing the keys it used.
            for (var k = 0; k < 7; k++)
            {
                entries.Remove((w * 7) + k);
            }
        })).ToArray();
        await Task.WhenAll(writers);

        Assert.True(entries.IsEmpty);
        entries.Set(3, true);
        Assert.False(entries.IsEmpty);
    }
}
