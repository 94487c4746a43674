using System.Diagnostics.CodeAnalysis;
using System.Globalization;

namespace Warren.Configuration;

/// <summary>
/// Warren's one hostname syntax and normal form (docs/security.md, "Hostnames"). A hostname is ASCII: letters,
/// digits and hyphens in dot-separated labels, an internationalised label written as its IDNA A-label
/// ("xn--bcher-kva", never "bücher"), optionally behind "*." where a wildcard is allowed; its normal form is that
/// text with ASCII letters lowercased, and nothing else changed. Config validation, <c>warren token create</c>, an
/// agent's registration, the token grant check, routing and certificate selection all go through here, so a name
/// is compared as the same key everywhere.
/// <para>
/// U-labels are refused, not converted: a conversion (UTS #46 mapping) folds look-alikes such as KELVIN SIGN
/// (U+212A) onto "k", and "compares equal after some mapping" is exactly the ownership bypass this closes. The
/// refusal names the A-label to write instead.
/// </para>
/// </summary>
public static class HostNames
{
    /// <summary>Longest name (RFC 1035), not counting a wildcard's "*.".</summary>
    public const int MaxLength = 253;

    private const int MaxShown = 80;

    private static readonly IdnMapping Idn = new() { AllowUnassigned = false, UseStd3AsciiRules = true };

    /// <summary>
    /// Checks <paramref name="text"/> and returns its normal form, or why it is not a hostname (a message that
    /// quotes the input only printable and cut to a few dozen characters, so it is safe to log and send back).
    /// </summary>
    public static bool TryNormalize(string? text, bool allowWildcard, [NotNullWhen(true)] out string? normalized, [NotNullWhen(false)] out string? problem)
    {
        normalized = null;
        if (string.IsNullOrEmpty(text))
        {
            problem = "a hostname is empty";
            return false;
        }
        if (text.Length > MaxLength + 2)
        {
            problem = $"'{Shown(text)}' is longer than {MaxLength} characters";
            return false;
        }
        if (!System.Text.Ascii.IsValid(text))
        {
            problem = $"'{Shown(text)}' is not ASCII; write an internationalised name as its IDNA A-label form{Suggestion(text)}";
            return false;
        }
        var lower = ToLowerAscii(text);
        var name = allowWildcard && lower.StartsWith("*.", StringComparison.Ordinal) ? lower[2..] : lower;
        if (!ConfigFormats.IsDnsName(name))
        {
            problem = $"'{Shown(text)}' is not a valid hostname; use a DNS name such as app.example.com{(allowWildcard ? " or a wildcard such as *.example.com" : "")}";
            return false;
        }
        foreach (var label in name.Split('.'))
        {
            if (label.StartsWith("xn--", StringComparison.Ordinal) && !IsALabel(label))
            {
                problem = $"'{Shown(text)}' has '{label}', which is not a valid IDNA A-label (it does not decode to a name that encodes back to it)";
                return false;
            }
        }
        normalized = lower;
        problem = null;
        return true;
    }

    /// <summary>
    /// The route key of a request's <c>Host</c> header (or HTTP/2 <c>:authority</c>) exactly as sent: the port and
    /// one trailing dot dropped, ASCII letters lowercased, never IDNA-decoded (Kestrel's <c>HttpRequest.Host</c>
    /// decodes "xn--" labels to Unicode, and throws on ones that do not decode). An IP literal or an empty header
    /// gives "" (routes nowhere: 404); false when the header is not a hostname (400): characters other than letters,
    /// digits, '-' and '.', or an "xn--" label that is not a valid A-label (nothing registered can have one, and a
    /// request that got past routing with one would make every later reader of HttpRequest.Host throw).
    /// </summary>
    public static bool TryGetRequestKey(string? header, out string key)
    {
        key = "";
        if (string.IsNullOrEmpty(header) || header[0] == '[')
        {
            return true; // no Host (HTTP/1.0), or an IPv6 literal: never a registered name
        }
        var span = header.AsSpan();
        var colon = span.IndexOf(':');
        if (colon >= 0)
        {
            var port = span[(colon + 1)..];
            if (port.IsEmpty || port.Length > 5 || port.ContainsAnyExceptInRange('0', '9'))
            {
                return false;
            }
            span = span[..colon];
        }
        if (span.EndsWith("."))
        {
            span = span[..^1];
        }
        if (span.IsEmpty || span.Length > MaxLength)
        {
            return false;
        }
        var upper = false;
        foreach (var c in span)
        {
            if (char.IsAsciiLetterUpper(c))
            {
                upper = true;
            }
            else if (!char.IsAsciiLetterLower(c) && !char.IsAsciiDigit(c) && c is not ('-' or '.'))
            {
                return false;
            }
        }
        key = span.Length == header.Length && !upper ? header : ToLowerAscii(span);
        return !key.Contains("xn--", StringComparison.Ordinal) || key.Split('.').All(label => !label.StartsWith("xn--", StringComparison.Ordinal) || IsALabel(label));
    }

    /// <summary>ASCII letters lowercased, every other character as it is (unlike ToLowerInvariant, which maps U+212A to 'k').</summary>
    public static string ToLowerAscii(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return text.AsSpan().ContainsAnyInRange('A', 'Z') ? ToLowerAscii(text.AsSpan()) : text;
    }

    private static string ToLowerAscii(ReadOnlySpan<char> text) => string.Create(text.Length, text, static (destination, source) =>
    {
        for (var i = 0; i < source.Length; i++)
        {
            var c = source[i];
            destination[i] = char.IsAsciiLetterUpper(c) ? (char)(c | 0x20) : c;
        }
    });

    /// <summary>
    /// "xn--" followed by Punycode that decodes to a label of letters, digits, combining marks and hyphens whose A-label
    /// is this label again (RFC 5890 §2.3.2.1). The letters-digits-marks test approximates IDNA2008's PVALID (RFC
    /// 5892): "xn--a" is valid Punycode for U+0080, a control character, and no hostname.
    /// </summary>
    private static bool IsALabel(string label)
    {
        try
        {
            var unicode = Idn.GetUnicode(label);
            return unicode.Length > 0 && unicode.All(IsLabelCharacter) && string.Equals(Idn.GetAscii(unicode), label, StringComparison.Ordinal);
        }
        catch (ArgumentException)
        {
            return false;
        }
    }

    private static bool IsLabelCharacter(char c) => c == '-' || char.GetUnicodeCategory(c) is UnicodeCategory.LowercaseLetter
        or UnicodeCategory.OtherLetter or UnicodeCategory.ModifierLetter or UnicodeCategory.DecimalDigitNumber
        or UnicodeCategory.NonSpacingMark or UnicodeCategory.SpacingCombiningMark or UnicodeCategory.Surrogate;

    private static string Suggestion(string text)
    {
        try
        {
            var wildcard = text.StartsWith("*.", StringComparison.Ordinal);
            var ascii = Idn.GetAscii(wildcard ? text[2..] : text);
            return $" ('{(wildcard ? "*." : "")}{Shown(ascii)}')";
        }
        catch (ArgumentException)
        {
            return "";
        }
    }

    /// <summary>The input as a message may quote it: control and non-ASCII characters as \uXXXX, at most a few dozen characters.</summary>
    private static string Shown(string text) => LogText.Bound(text, MaxShown);
}
