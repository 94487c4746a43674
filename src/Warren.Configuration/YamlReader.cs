using System.Globalization;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Warren.Configuration;

/// <summary>
/// Reads YAML nodes into values by hand, so that every error carries the file and line, unknown keys
/// are caught, and <c>${VAR}</c> is substituted in every scalar that came from the file.
/// </summary>
internal sealed class YamlReader
{
    internal delegate bool TryParse<T>(string text, out T value);

    private static readonly HashSet<string> NullWords = new(StringComparer.Ordinal) { "", "~", "null", "Null", "NULL" };

    private readonly Dictionary<YamlNode, string> _overrideOrigins = new(ReferenceEqualityComparer.Instance);
    private readonly IReadOnlyDictionary<string, string?> _environment;
    private readonly string? _directory;

    public YamlReader(Diagnostics diagnostics, IReadOnlyDictionary<string, string?> environment)
    {
        Diagnostics = diagnostics;
        _environment = environment;
        _directory = diagnostics.File is null ? null : Path.GetDirectoryName(Path.GetFullPath(diagnostics.File));
    }

    public Diagnostics Diagnostics { get; }

    /// <summary>The root mapping of <paramref name="path"/>, an empty one when there is no file, or null after reporting why not.</summary>
    public YamlMappingNode? LoadRoot(string? path)
    {
        if (path is null)
        {
            return new YamlMappingNode();
        }

        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            Diagnostics.Fail("", path, null, "file not found");
            return null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Diagnostics.Fail("", path, null, $"cannot read the file: {e.Message}");
            return null;
        }

        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(text));
        }
        catch (YamlException e)
        {
            var message = e.InnerException is { } inner && e.Message.Contains("Duplicate key", StringComparison.Ordinal)
                ? $"YAML syntax error: {e.Message} ({inner.Message})"
                : $"YAML syntax error: {e.Message}";
            Diagnostics.Fail("", path, (int)e.Start.Line, message);
            return null;
        }

        if (stream.Documents.Count == 0)
        {
            return new YamlMappingNode();
        }

        if (stream.Documents.Count > 1)
        {
            Diagnostics.Fail("", path, (int)stream.Documents[1].RootNode.Start.Line, "the file holds more than one YAML document; keep one");
            return null;
        }

        var root = stream.Documents[0].RootNode;
        if (root is YamlMappingNode mapping)
        {
            return mapping;
        }

        if (root is YamlScalarNode { Style: ScalarStyle.Plain } scalar && NullWords.Contains(scalar.Value ?? ""))
        {
            return new YamlMappingNode();
        }

        Diagnostics.Fail("", path, (int)root.Start.Line, "the file must be a mapping of keys to values (key: value lines)");
        return null;
    }

    /// <summary>Puts an override value at a dotted scalar path, replacing what the file said.</summary>
    public void Override(YamlMappingNode root, string dottedPath, string value, string origin)
    {
        var segments = dottedPath.Split('.');
        var current = root;
        for (var i = 0; i < segments.Length; i++)
        {
            var existing = current.Children.Keys.OfType<YamlScalarNode>().FirstOrDefault(k => k.Value == segments[i]);
            if (i == segments.Length - 1)
            {
                var node = new YamlScalarNode(value) { Style = ScalarStyle.Plain };
                _overrideOrigins[node] = origin;
                current.Children[existing ?? new YamlScalarNode(segments[i])] = node;
                return;
            }

            if (existing is null)
            {
                var child = new YamlMappingNode();
                current.Children[new YamlScalarNode(segments[i])] = child;
                current = child;
            }
            else if (current.Children[existing] is YamlMappingNode child)
            {
                current = child;
            }
            else
            {
                // The file has something other than a mapping here; reading it reports that.
                return;
            }
        }
    }

    public (string? File, int? Line) Where(YamlNode node) =>
        _overrideOrigins.TryGetValue(node, out var origin) ? (origin, null) : (Diagnostics.File, (int)node.Start.Line);

    public bool IsOverride(YamlNode node) => _overrideOrigins.ContainsKey(node);

    public void Fail(YamlNode node, string path, string message)
    {
        var (file, line) = Where(node);
        Diagnostics.Fail(path, file, line, message);
    }

    public Mapping Map(YamlNode? node, string path, params string[] known)
    {
        if (node is null || IsNull(node))
        {
            return new Mapping(this, null, path, known);
        }

        if (node is YamlMappingNode mapping)
        {
            return new Mapping(this, mapping, path, known);
        }

        Fail(node, path, $"expected a mapping (key: value lines) here, found {Describe(node)}");
        return new Mapping(this, null, path, known);
    }

    /// <summary>A mapping of free keys to strings (header names to values); a missing or null one is empty.</summary>
    public IReadOnlyDictionary<string, string> StringMap(YamlNode? node, string path)
    {
        var result = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        if (node is null || IsNull(node))
        {
            return result;
        }

        if (node is not YamlMappingNode mapping)
        {
            Fail(node, path, $"expected a mapping (name: value lines) here, found {Describe(node)}");
            return result;
        }

        foreach (var (keyNode, value) in mapping.Children)
        {
            if (keyNode is not YamlScalarNode { Value: { Length: > 0 } key })
            {
                Fail(keyNode, path, "keys must be plain names");
                continue;
            }

            var child = Diagnostics.Child(path, key);
            var (file, line) = Where(keyNode);
            Diagnostics.Locate(child, file, line);
            if (Parse<string?>(value, child, null, nullable: false, ParseString!, "text") is { } text && !result.TryAdd(key, text))
            {
                Fail(keyNode, child, $"'{key}' is given twice (names are compared ignoring case)");
            }
        }

        return result;
    }

    /// <summary>The items of a list; a missing or null list is empty.</summary>
    public IReadOnlyList<T> List<T>(YamlNode? node, string path, Func<YamlNode, string, T?> item)
    {
        if (node is null || IsNull(node))
        {
            return [];
        }

        if (node is not YamlSequenceNode sequence)
        {
            Fail(node, path, $"expected a list ('- item' lines or [a, b]), found {Describe(node)}");
            return [];
        }

        var result = new List<T>(sequence.Children.Count);
        for (var i = 0; i < sequence.Children.Count; i++)
        {
            var child = sequence.Children[i];
            var itemPath = Diagnostics.Item(path, i);
            var (file, line) = Where(child);
            Diagnostics.Locate(itemPath, file, line);
            if (item(child, itemPath) is { } value)
            {
                result.Add(value);
            }
        }

        return result;
    }

    /// <summary>
    /// The text of a scalar after <c>${VAR}</c> substitution: false after reporting an error,
    /// true with null for a YAML null (an empty value, ~ or null).
    /// </summary>
    public bool Text(YamlNode node, string path, out string? text)
    {
        text = null;
        if (node is not YamlScalarNode scalar)
        {
            Fail(node, path, $"expected a single value, found {Describe(node)}");
            return false;
        }

        if (IsNull(scalar))
        {
            return true;
        }

        var raw = scalar.Value ?? "";
        if (IsOverride(scalar))
        {
            text = raw;
            return true;
        }

        text = Substitution.Apply(raw, _environment, out var error);
        if (error is not null)
        {
            Fail(node, path, error);
            return false;
        }

        return true;
    }

    /// <summary>A parsed scalar; <paramref name="fallback"/> after an error. A null value is null when allowed, else an error.</summary>
    public T Parse<T>(YamlNode node, string path, T fallback, bool nullable, TryParse<T> parse, string expected)
    {
        if (!Text(node, path, out var text))
        {
            return fallback;
        }

        if (text is null)
        {
            if (nullable)
            {
                return default!;
            }

            Fail(node, path, $"needs a value ({expected})");
            return fallback;
        }

        if (parse(text, out var value))
        {
            return value;
        }

        Fail(node, path, $"'{text}' is not {expected}");
        return fallback;
    }

    /// <summary>A relative file path from the file is taken relative to the file's folder; from overrides, relative to the working directory.</summary>
    public string ResolvePath(YamlNode node, string value) =>
        _directory is null || IsOverride(node) || Path.IsPathRooted(value) ? value : Path.GetFullPath(Path.Combine(_directory, value));

    public static bool ParseString(string text, out string value)
    {
        value = text;
        return true;
    }

    public static bool ParseInt(string text, out int value) =>
        int.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out value);

    public static bool ParseBool(string text, out bool value)
    {
        value = text.Equals("true", StringComparison.OrdinalIgnoreCase);
        return value || text.Equals("false", StringComparison.OrdinalIgnoreCase);
    }

    private static bool IsNull(YamlNode node) =>
        node is YamlScalarNode { Style: ScalarStyle.Plain or ScalarStyle.Any } scalar && NullWords.Contains(scalar.Value ?? "");

    private static string Describe(YamlNode node) => node switch
    {
        YamlSequenceNode => "a list",
        YamlMappingNode => "a mapping",
        // Never the text: it may be a token written under the wrong key.
        YamlScalarNode => "a single value",
        _ => node.NodeType.ToString(),
    };
}
