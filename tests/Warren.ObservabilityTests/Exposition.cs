using System.Globalization;
using System.Text;

namespace Warren.ObservabilityTests;

/// <summary>One sample: metric name, labels (in order), value.</summary>
internal sealed record Sample(string Name, IReadOnlyList<KeyValuePair<string, string>> Labels, double Value)
{
    public string? Label(string name) => Labels.FirstOrDefault(l => l.Key == name).Value;

    /// <summary>Identity of the series (name and labels), without the value.</summary>
    public string Key => Name + "{" + string.Join(",", Labels.Select(l => $"{l.Key}=\"{l.Value}\"")) + "}";
}

/// <summary>
/// A strict parser for the Prometheus text exposition format (0.0.4): every line is blank, a comment, or
/// <c>name{label="value",...} value [timestamp]</c> with valid names, quoted and escaped label values and a float;
/// every sample's family has a # TYPE line before it; no series appears twice.
/// </summary>
internal static class Exposition
{
    public static IReadOnlyList<Sample> Parse(string text)
    {
        var types = new Dictionary<string, string>(StringComparer.Ordinal);
        var samples = new List<Sample>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var lineNumber = 0;
        foreach (var line in text.Split('\n'))
        {
            lineNumber++;
            if (line.Length == 0)
            {
                continue;
            }
            if (line[0] == '#')
            {
                var parts = line.Split(' ', 4);
                if (parts.Length >= 3 && parts[1] == "TYPE")
                {
                    Check(parts.Length == 4 && IsMetricName(parts[2]) && parts[3] is "counter" or "gauge" or "histogram" or "summary" or "untyped", lineNumber, line, "bad # TYPE");
                    Check(types.TryAdd(parts[2], parts[3]), lineNumber, line, "second # TYPE for a family");
                }
                else if (parts.Length >= 3 && parts[1] == "HELP")
                {
                    Check(IsMetricName(parts[2]), lineNumber, line, "bad # HELP name");
                }
                continue;
            }
            var sample = ParseSample(line, lineNumber);
            Check(FamilyOf(sample.Name, types) is not null, lineNumber, line, "sample without a # TYPE for its family");
            Check(seen.Add(sample.Key), lineNumber, line, "duplicate series");
            samples.Add(sample);
        }
        return samples;
    }

    private static string? FamilyOf(string name, Dictionary<string, string> types)
    {
        if (types.ContainsKey(name))
        {
            return name;
        }
        foreach (var suffix in new[] { "_bucket", "_sum", "_count" })
        {
            if (name.EndsWith(suffix, StringComparison.Ordinal) && types.TryGetValue(name[..^suffix.Length], out var type) && type is "histogram" or "summary")
            {
                return name[..^suffix.Length];
            }
        }
        return null;
    }

    private static Sample ParseSample(string line, int lineNumber)
    {
        var i = 0;
        while (i < line.Length && line[i] != '{' && line[i] != ' ')
        {
            i++;
        }
        var name = line[..i];
        Check(IsMetricName(name), lineNumber, line, "bad metric name");
        var labels = new List<KeyValuePair<string, string>>();
        if (i < line.Length && line[i] == '{')
        {
            i++;
            while (true)
            {
                Check(i < line.Length, lineNumber, line, "unterminated labels");
                if (line[i] == '}')
                {
                    i++;
                    break;
                }
                var start = i;
                while (i < line.Length && line[i] != '=')
                {
                    i++;
                }
                var labelName = line[start..i];
                Check(IsLabelName(labelName), lineNumber, line, $"bad label name '{labelName}'");
                Check(i + 1 < line.Length && line[i + 1] == '"', lineNumber, line, "label value not quoted");
                i += 2;
                var value = new StringBuilder();
                while (true)
                {
                    Check(i < line.Length, lineNumber, line, "unterminated label value");
                    var c = line[i++];
                    if (c == '"')
                    {
                        break;
                    }
                    if (c == '\\')
                    {
                        Check(i < line.Length, lineNumber, line, "dangling escape");
                        var e = line[i++];
                        value.Append(e switch
                        {
                            '\\' => '\\',
                            '"' => '"',
                            'n' => '\n',
                            _ => throw new FormatException($"line {lineNumber}: bad escape \\{e}: {line}"),
                        });
                        continue;
                    }
                    value.Append(c);
                }
                Check(labels.All(l => l.Key != labelName), lineNumber, line, "label given twice");
                labels.Add(new(labelName, value.ToString()));
                Check(i < line.Length && (line[i] == ',' || line[i] == '}'), lineNumber, line, "expected , or }");
                if (line[i] == ',')
                {
                    i++;
                }
            }
        }
        Check(i < line.Length && line[i] == ' ', lineNumber, line, "expected a space before the value");
        var rest = line[(i + 1)..].Split(' ');
        Check(rest.Length is 1 or 2, lineNumber, line, "expected value [timestamp]");
        Check(TryParseFloat(rest[0], out var number), lineNumber, line, "bad value");
        if (rest.Length == 2)
        {
            Check(long.TryParse(rest[1], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out _), lineNumber, line, "bad timestamp");
        }
        return new Sample(name, labels, number);
    }

    private static bool TryParseFloat(string text, out double value)
    {
        switch (text)
        {
            case "+Inf":
                value = double.PositiveInfinity;
                return true;
            case "-Inf":
                value = double.NegativeInfinity;
                return true;
            case "NaN":
                value = double.NaN;
                return true;
        }
        return double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out value) && text.All(c => char.IsAsciiDigit(c) || c is '.' or 'e' or 'E' or '+' or '-');
    }

    private static bool IsMetricName(string name) =>
        name.Length > 0 && (char.IsAsciiLetter(name[0]) || name[0] is '_' or ':') && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or ':');

    private static bool IsLabelName(string name) =>
        name.Length > 0 && (char.IsAsciiLetter(name[0]) || name[0] == '_') && name.All(c => char.IsAsciiLetterOrDigit(c) || c == '_');

    private static void Check(bool ok, int lineNumber, string line, string what)
    {
        if (!ok)
        {
            throw new FormatException($"line {lineNumber}: {what}: {line}");
        }
    }
}
