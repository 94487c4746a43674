using System.Globalization;
using System.Text;

namespace Warren.Configuration;

/// <summary>
/// Text from the wire (an agent's name or service names before or after login, a request's host or path, a peer's
/// error message) on its way into a log line or a message that may be logged: printable ASCII passes, anything else
/// (control characters such as ESC, which would drive an operator's terminal; newlines, which forge log lines;
/// non-ASCII, which hides look-alikes and bidirectional overrides) is written as \uXXXX, and the result is cut to a
/// bound so one peer cannot fill the log (docs/security.md, "Logs and metrics").
/// </summary>
public static class LogText
{
    /// <summary>Default bound: enough for a hostname (253) with room to spare.</summary>
    public const int DefaultMaxLength = 256;

    /// <summary><paramref name="text"/> made safe to log, at most about <paramref name="maxLength"/> characters; "" for null.</summary>
    public static string Bound(string? text, int maxLength = DefaultMaxLength)
    {
        if (string.IsNullOrEmpty(text))
        {
            return "";
        }
        if (text.Length <= maxLength && !text.AsSpan().ContainsAnyExceptInRange(' ', '~'))
        {
            return text; // the common case: nothing to escape, nothing to cut, nothing allocated
        }
        var builder = new StringBuilder(Math.Min(text.Length, maxLength) + 24);
        foreach (var c in text)
        {
            if (builder.Length >= maxLength)
            {
                builder.Append(CultureInfo.InvariantCulture, $"...({text.Length} chars)");
                break;
            }
            if (c is >= ' ' and <= '~')
            {
                builder.Append(c);
            }
            else
            {
                builder.Append(CultureInfo.InvariantCulture, $"\\u{(int)c:x4}");
            }
        }
        return builder.ToString();
    }
}
