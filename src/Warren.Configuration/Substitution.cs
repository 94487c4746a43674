using System.Text;

namespace Warren.Configuration;

/// <summary><c>${VAR}</c>, <c>${VAR:-default}</c> and <c>$$</c> inside YAML scalars.</summary>
internal static class Substitution
{
    /// <summary>The substituted text, or null with <paramref name="error"/> set. An unset <c>${VAR}</c> is an error, never "".</summary>
    public static string? Apply(string text, IReadOnlyDictionary<string, string?> environment, out string? error)
    {
        error = null;
        if (!text.Contains('$', StringComparison.Ordinal))
        {
            return text;
        }

        var result = new StringBuilder(text.Length);
        var i = 0;
        while (i < text.Length)
        {
            var c = text[i];
            if (c != '$' || i + 1 >= text.Length)
            {
                result.Append(c);
                i++;
                continue;
            }

            var next = text[i + 1];
            if (next == '$')
            {
                result.Append('$');
                i += 2;
                continue;
            }

            if (next != '{')
            {
                result.Append(c);
                i++;
                continue;
            }

            var close = text.IndexOf('}', i + 2);
            if (close < 0)
            {
                error = $"'${{' at character {i + 1} has no closing '}}'; write $$ for a literal dollar";
                return null;
            }

            var body = text[(i + 2)..close];
            var separator = body.IndexOf(":-", StringComparison.Ordinal);
            var name = separator < 0 ? body : body[..separator];
            if (!IsName(name))
            {
                error = $"'${{{body}}}' is not a valid variable reference; use ${{NAME}} or ${{NAME:-default}} (NAME is letters, digits and _), or $$ for a literal dollar";
                return null;
            }

            environment.TryGetValue(name, out var value);
            if (separator >= 0)
            {
                // As in the shell: unset or empty takes the default.
                result.Append(string.IsNullOrEmpty(value) ? body[(separator + 2)..] : value);
            }
            else if (value is null)
            {
                error = $"environment variable {name} is not set (referenced as ${{{name}}}); set it, or write ${{{name}:-default}} to give a default";
                return null;
            }
            else
            {
                result.Append(value);
            }

            i = close + 1;
        }

        return result.ToString();
    }

    private static bool IsName(string name) =>
        name.Length > 0 && !char.IsAsciiDigit(name[0]) && name.All(c => char.IsAsciiLetterOrDigit(c) || c == '_');
}
