using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Warren.Configuration;

/// <summary>
/// The value syntaxes the configuration accepts, public so that the CLI, edge and agent parse
/// flags and addresses exactly as the files are parsed.
/// </summary>
public static class ConfigFormats
{
    private static readonly (string Unit, decimal Factor)[] SizeUnits =
    [
        ("KiB", 1L << 10), ("MiB", 1L << 20), ("GiB", 1L << 30), ("TiB", 1L << 40),
        ("KB", 1_000L), ("MB", 1_000_000L), ("GB", 1_000_000_000L), ("TB", 1_000_000_000_000L),
        ("B", 1L),
    ];

    private static readonly (string Unit, decimal Factor)[] DurationUnits =
    [
        ("ms", 0.001m), ("s", 1m), ("m", 60m), ("h", 3600m),
    ];

    /// <summary>"10s", "500ms", "2m", "1h", or a plain number of seconds ("1.5"). Negative values are refused.</summary>
    public static bool TryParseDuration(string? text, out TimeSpan value)
    {
        value = default;
        if (!TryParseWithUnit(text, DurationUnits, StringComparison.Ordinal, out var seconds) || seconds > 100 * 365 * 86_400m)
        {
            return false;
        }

        value = TimeSpan.FromMilliseconds((double)decimal.Round(seconds * 1000));
        return true;
    }

    /// <summary>"30MB" (10^6), "1MiB" (2^20), "1GB", "1GiB", "512KB", "512KiB", or plain bytes. Units ignore case ("30mb").</summary>
    public static bool TryParseSize(string? text, out long value)
    {
        value = default;
        if (!TryParseWithUnit(text, SizeUnits, StringComparison.OrdinalIgnoreCase, out var bytes)
            || bytes > long.MaxValue || bytes != decimal.Truncate(bytes))
        {
            return false;
        }

        value = (long)bytes;
        return true;
    }

    /// <summary>A non-negative decimal number with an optional unit suffix, times the unit's factor (1 without one).</summary>
    private static bool TryParseWithUnit(string? text, (string Unit, decimal Factor)[] units, StringComparison comparison, out decimal amount)
    {
        amount = 0;
        if (string.IsNullOrWhiteSpace(text))
        {
            return false;
        }

        var trimmed = text.Trim();
        var factor = 1m;
        foreach (var (unit, unitFactor) in units)
        {
            if (trimmed.EndsWith(unit, comparison))
            {
                trimmed = trimmed[..^unit.Length].TrimEnd();
                factor = unitFactor;
                break;
            }
        }

        if (!decimal.TryParse(trimmed, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var number))
        {
            return false;
        }

        try
        {
            amount = number * factor;
            return true;
        }
        catch (OverflowException)
        {
            return false;
        }
    }

    /// <summary>
    /// "host:port" where host is an IPv4 address, a bracketed IPv6 address ("[::1]:80") or a DNS name.
    /// The host comes back without brackets. The port is 0..65535; callers decide whether 0 is allowed.
    /// </summary>
    public static bool TryParseHostPort(string? text, out string host, out int port)
    {
        host = "";
        port = 0;
        if (string.IsNullOrEmpty(text))
        {
            return false;
        }

        string hostPart;
        string portPart;
        if (text.StartsWith('['))
        {
            var close = text.IndexOf("]:", StringComparison.Ordinal);
            if (close < 0)
            {
                return false;
            }

            hostPart = text[1..close];
            portPart = text[(close + 2)..];
            if (!IPAddress.TryParse(hostPart, out var v6) || v6.AddressFamily != AddressFamily.InterNetworkV6)
            {
                return false;
            }
        }
        else
        {
            var colon = text.LastIndexOf(':');
            if (colon <= 0 || text.IndexOf(':') != colon)
            {
                return false;
            }

            hostPart = text[..colon];
            portPart = text[(colon + 1)..];
            if (!IsIPv4(hostPart) && !IsDnsName(hostPart))
            {
                return false;
            }
        }

        if (portPart.Length is 0 or > 5 || !portPart.All(char.IsAsciiDigit))
        {
            return false;
        }

        port = int.Parse(portPart, CultureInfo.InvariantCulture);
        if (port > 65535)
        {
            return false;
        }

        host = hostPart;
        return true;
    }

    /// <summary>A DNS name of letters, digits and hyphens in dot-separated labels of 1..63 characters, 253 at most.</summary>
    public static bool IsDnsName(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (name.Length is 0 or > 253)
        {
            return false;
        }

        foreach (var label in name.Split('.'))
        {
            if (label.Length is 0 or > 63 || label[0] == '-' || label[^1] == '-'
                || !label.All(c => char.IsAsciiLetterOrDigit(c) || c == '-'))
            {
                return false;
            }
        }

        // An all-numeric dotted name is a malformed address ("300.1.1.1"), not a host.
        return !name.Split('.').All(label => label.All(char.IsAsciiDigit));
    }

    /// <summary>A hostname or "*." wildcard already in its normal form (<see cref="HostNames"/>).</summary>
    public static bool IsHostPattern(string pattern) =>
        HostNames.TryNormalize(pattern, allowWildcard: true, out var normalized, out _) && string.Equals(normalized, pattern, StringComparison.Ordinal);

    /// <summary>
    /// An IP address ("10.1.2.3", "2001:db8::1": that address alone) or a CIDR range ("10.0.0.0/8", "2001:db8::/32")
    /// whose address has no bits set past the prefix.
    /// </summary>
    public static bool TryParseNetwork(string? text, out IPNetwork network)
    {
        network = default;
        if (string.IsNullOrWhiteSpace(text))
        {
            return false;
        }
        if (!text.Contains('/', StringComparison.Ordinal))
        {
            if (!IPAddress.TryParse(text, out var address) || (address.AddressFamily == AddressFamily.InterNetwork && !IsIPv4(text)))
            {
                return false;
            }
            network = new IPNetwork(address, address.AddressFamily == AddressFamily.InterNetwork ? 32 : 128);
            return true;
        }
        // IPNetwork masks host bits away; "10.0.0.1/8" is refused rather than silently read as 10.0.0.0/8.
        return IPNetwork.TryParse(text, out network) && IPAddress.TryParse(text[..text.IndexOf('/', StringComparison.Ordinal)], out var written)
            && written.Equals(network.BaseAddress);
    }

    /// <summary>An IPv4 address in dotted-quad form ("10.0.0.5") or an IPv6 address without brackets ("::", "2001:db8::1").</summary>
    public static bool IsIPAddress(string? text) =>
        !string.IsNullOrEmpty(text) && IPAddress.TryParse(text, out var address)
        && (address.AddressFamily == AddressFamily.InterNetworkV6 ? !text.StartsWith('[') && !text.Contains('%', StringComparison.Ordinal) : IsIPv4(text));

    private static bool IsIPv4(string text) =>
        text.Count(c => c == '.') == 3 && IPAddress.TryParse(text, out var address) && address.AddressFamily == AddressFamily.InterNetwork;
}
