using System.Globalization;

namespace Warren.LoadTest;

/// <summary>Number formatting for the report's Markdown tables (invariant culture, blank when not measured).</summary>
internal static class Md
{
    public static string Inv(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);

    /// <summary>a / b with two decimals, or "" when either is missing or zero.</summary>
    public static string Ratio(double? a, double? b) => a is > 0 && b is > 0 ? (a.Value / b.Value).ToString("F2", CultureInfo.InvariantCulture) : "";

    public static string N0(double? v) => v is { } x && !double.IsNaN(x) ? x.ToString("F0", CultureInfo.InvariantCulture) : "";

    public static string N1(double? v) => v is { } x && !double.IsNaN(x) ? x.ToString("F1", CultureInfo.InvariantCulture) : "";

    public static string N2(double? v) => v is { } x && !double.IsNaN(x) ? x.ToString("F2", CultureInfo.InvariantCulture) : "";

    public static string Mb(double? kb) => kb is > 0 ? N1(kb / 1024) : "";

    public static string Label(string target) => target switch
    {
        "warren" => "**Warren**",
        "nginx" => "nginx one-hop",
        "yarp" => "YARP one-hop",
        "ssh" => "ssh -R",
        "warren-tcp" => "Warren TCP service",
        "haproxy" => "HAProxy one-hop",
        _ => "direct",
    };
}
