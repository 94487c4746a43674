using YamlDotNet.RepresentationModel;

namespace Warren.Configuration;

/// <summary>One YAML mapping being read: its keys are checked against the known ones and read by type.</summary>
internal sealed class Mapping
{
    private readonly YamlReader _reader;
    private readonly Dictionary<string, YamlNode> _values = new(StringComparer.Ordinal);

    public Mapping(YamlReader reader, YamlMappingNode? node, string path, IReadOnlyList<string> known)
    {
        _reader = reader;
        Path = path;
        if (node is null)
        {
            return;
        }

        foreach (var (keyNode, value) in node.Children)
        {
            if (keyNode is not YamlScalarNode { Value: { } key })
            {
                reader.Fail(keyNode, path, "keys must be plain names");
                continue;
            }

            var child = Diagnostics.Child(path, key);
            if (!known.Contains(key))
            {
                reader.Fail(keyNode, child, UnknownKey(key, known));
                continue;
            }

            var (file, line) = reader.IsOverride(value) ? reader.Where(value) : reader.Where(keyNode);
            reader.Diagnostics.Locate(child, file, line);
            _values[key] = value;
        }
    }

    public string Path { get; }

    public YamlNode? this[string key] => _values.GetValueOrDefault(key);

    public string Child(string key) => Diagnostics.Child(Path, key);

    /// <summary>A required-when-present string: an empty value is an error.</summary>
    public string String(string key, string fallback) =>
        Get(key, fallback, nullable: false, YamlReader.ParseString, "text");

    /// <summary>An optional string: empty, ~ and null all mean "not set".</summary>
    public string? OptionalString(string key, string? fallback)
    {
        var value = Get<string?>(key, fallback, nullable: true, YamlReader.ParseString!, "text");
        return string.IsNullOrEmpty(value) ? null : value;
    }

    /// <summary>A file or folder path; relative paths from the file are relative to the file's folder.</summary>
    public string? FilePath(string key, string? fallback)
    {
        var value = OptionalString(key, fallback);
        return value is null || this[key] is not { } node ? value : _reader.ResolvePath(node, value);
    }

    public int Int(string key, int fallback) => Get(key, fallback, nullable: false, YamlReader.ParseInt, "a whole number");

    public int? OptionalInt(string key) =>
        Get<int?>(key, null, nullable: true, (string text, out int? value) => Wrap(YamlReader.ParseInt(text, out var v), v, out value), "a whole number");

    public bool Bool(string key, bool fallback) => Get(key, fallback, nullable: false, YamlReader.ParseBool, "true or false");

    public TimeSpan Duration(string key, TimeSpan fallback) =>
        Get(key, fallback, nullable: false, ConfigFormats.TryParseDuration, "a duration; use e.g. 500ms, 10s, 2m, 1h or a number of seconds");

    public long Size(string key, long fallback) =>
        Get(key, fallback, nullable: false, ConfigFormats.TryParseSize, SizeExpected);

    public long? OptionalSize(string key) =>
        Get<long?>(key, null, nullable: true, (string text, out long? value) => Wrap(ConfigFormats.TryParseSize(text, out var v), v, out value), SizeExpected);

    public Uri? Target(string key) =>
        Get<Uri?>(key, null, nullable: true, (string text, out Uri? value) => Uri.TryCreate(text, UriKind.Absolute, out value), Validator.TargetExpected);

    public IReadOnlyList<string> StringList(string key) =>
        _reader.List(this[key], Child(key), (node, path) => _reader.Parse<string?>(node, path, null, nullable: false, YamlReader.ParseString!, "text"));

    public IReadOnlyList<int> IntList(string key) =>
    [
        .. _reader.List(this[key], Child(key), (node, path) =>
            _reader.Parse<int?>(node, path, null, nullable: false, (string text, out int? value) => Wrap(YamlReader.ParseInt(text, out var v), v, out value), "a whole number"))
            .OfType<int>(),
    ];

    public IReadOnlyList<T> List<T>(string key, Func<Mapping, T> read, params string[] known) =>
        _reader.List(this[key], Child(key), (node, path) => read(_reader.Map(node, path, known)));

    public Mapping Map(string key, params string[] known) => _reader.Map(this[key], Child(key), known);

    /// <summary>A mapping whose keys are free (header names): each value is a string.</summary>
    public IReadOnlyDictionary<string, string> StringMap(string key) => _reader.StringMap(this[key], Child(key));

    /// <summary>Whether the key was given (even as null).</summary>
    public bool Has(string key) => _values.ContainsKey(key);

    /// <summary>The text of the file at <paramref name="key"/>, or null when not set; a file that cannot be read is reported.</summary>
    public string? FileText(string key)
    {
        if (FilePath(key, null) is not { } file)
        {
            return null;
        }

        try
        {
            return File.ReadAllText(file);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            _reader.Fail(this[key]!, Child(key), $"cannot read {file}: {e.Message}");
            return null;
        }
    }

    private const string SizeExpected = "a size; use e.g. 30MB, 512KiB, 1GiB or a number of bytes";

    private T Get<T>(string key, T fallback, bool nullable, YamlReader.TryParse<T> parse, string expected) =>
        this[key] is { } node ? _reader.Parse(node, Child(key), fallback, nullable, parse, expected) : fallback;

    private static bool Wrap<T>(bool ok, T parsed, out T? value)
        where T : struct
    {
        value = ok ? parsed : null;
        return ok;
    }

    private static string UnknownKey(string key, IReadOnlyList<string> known)
    {
        var closest = known.MinBy(k => Distance(k, key));
        var hint = closest is not null && Distance(closest, key) <= Math.Max(2, key.Length / 3) ? $"; did you mean '{closest}'?" : "";
        return $"unknown key '{key}'{hint} (known keys here: {string.Join(", ", known)})";
    }

    private static int Distance(string a, string b)
    {
        var previous = new int[b.Length + 1];
        var current = new int[b.Length + 1];
        for (var j = 0; j <= b.Length; j++)
        {
            previous[j] = j;
        }

        for (var i = 1; i <= a.Length; i++)
        {
            current[0] = i;
            for (var j = 1; j <= b.Length; j++)
            {
                var cost = a[i - 1] == b[j - 1] ? 0 : 1;
                current[j] = Math.Min(Math.Min(current[j - 1] + 1, previous[j] + 1), previous[j - 1] + cost);
            }

            (previous, current) = (current, previous);
        }

        return previous[b.Length];
    }
}
