using System.Globalization;

namespace Warren.LoadTest;

/// <summary>"--key value" pairs, plus everything after "--" as a command line.</summary>
internal sealed class Args
{
    private readonly Dictionary<string, string> _values = new(StringComparer.Ordinal);

    public IReadOnlyList<string> Rest { get; private init; } = [];

    public static Args Parse(ReadOnlySpan<string> args)
    {
        var result = new Args();
        for (var i = 0; i < args.Length; i++)
        {
            if (args[i] == "--")
            {
                return new Args { Rest = args[(i + 1)..].ToArray() }.With(result._values);
            }
            if (args[i].StartsWith("--", StringComparison.Ordinal) && i + 1 < args.Length)
            {
                result._values[args[i][2..]] = args[i + 1];
                i++;
            }
        }
        return result;
    }

    private Args With(Dictionary<string, string> values)
    {
        foreach (var (k, v) in values)
        {
            _values[k] = v;
        }
        return this;
    }

    public string Get(string key, string fallback) => _values.GetValueOrDefault(key, fallback);

    public string Required(string key) =>
        _values.TryGetValue(key, out var v) ? v : throw new ArgumentException($"--{key} is required");

    public int Int(string key, int fallback) =>
        _values.TryGetValue(key, out var v) ? int.Parse(v, CultureInfo.InvariantCulture) : fallback;

    public double Double(string key, double fallback) =>
        _values.TryGetValue(key, out var v) ? double.Parse(v, CultureInfo.InvariantCulture) : fallback;
}
