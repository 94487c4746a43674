using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Warren.Configuration;

/// <summary>
/// Rules over the records, shared by files and configs built in code. Every error is collected;
/// none repeats a token's value. Returns the record with values normalised (hex lowercased).
/// </summary>
internal static partial class Validator
{
    public const string TargetExpected = "a valid target; use http://host:port, https://host:port or tcp://host:port";

    private const string AddressHint = "use host:port, e.g. 0.0.0.0:8080, [::1]:8080 or localhost:8080";

    /// <summary>The admin listener may leave loopback only with a token; a token must be long enough (AdminAccess).</summary>
    private static void CheckAdmin(Diagnostics d, string path, string? address, string? token)
    {
        if (!string.IsNullOrEmpty(token))
        {
            if (AdminAccess.Problem(token) is { } problem)
            {
                d.Report("admin_token", problem);
            }
        }
        else if (!string.IsNullOrEmpty(address) && ConfigFormats.TryParseHostPort(address, out _, out _) && !AdminAccess.IsLoopback(address))
        {
            d.Report(path, $"'{address}' is not a loopback address, and the admin listener serves status and metrics: set admin_token (e.g. admin_token: ${{WARREN_ADMIN_TOKEN}}, {AdminAccess.MinimumTokenLength}+ characters) so they need it, or bind to 127.0.0.1");
        }
    }

    private static void CheckSession(Diagnostics d, SessionConfig session)
    {
        // Below 100 ms a loaded host misses its own pings; above an hour a dead link is never noticed in practice.
        var interval = session.KeepaliveInterval;
        var timeout = session.KeepaliveTimeout;
        CheckRange(d, "session.keepalive_interval", interval, TimeSpan.FromMilliseconds(100), TimeSpan.FromHours(1));
        CheckRange(d, "session.keepalive_timeout", timeout, TimeSpan.FromMilliseconds(100), TimeSpan.FromHours(1));
        if (timeout <= interval)
        {
            d.Report("session.keepalive_timeout", $"must be longer than session.keepalive_interval ({Seconds(timeout)}s is not more than {Seconds(interval)}s); e.g. three intervals");
        }
    }

    private static readonly TimeSpan MaxDrainTimeout = EdgeConfig.MaxDrainTimeout;

    private static void CheckRange(Diagnostics d, string path, TimeSpan value, TimeSpan min, TimeSpan max)
    {
        if (value < min || value > max)
        {
            d.Report(path, $"must be {Seconds(min)}s to {Seconds(max)}s (it is {Seconds(value)}s)");
        }
    }

    private static string Seconds(TimeSpan value) => value.TotalSeconds.ToString(CultureInfo.InvariantCulture);

    private static void CheckRange(Diagnostics d, string path, int value, int min, int max)
    {
        if (value < min || value > max)
        {
            d.Report(path, $"must be {min} to {max} (it is {value})");
        }
    }

    private static void CheckPositive(Diagnostics d, string path, TimeSpan value)
    {
        if (value <= TimeSpan.Zero)
        {
            d.Report(path, $"must be longer than 0 (it is {value.TotalSeconds.ToString(CultureInfo.InvariantCulture)}s)");
        }
    }

    private static bool IsSha256Hex(string text) => text.Length == 64 && text.All(char.IsAsciiHexDigit);
}
