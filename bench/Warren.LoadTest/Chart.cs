using System.Globalization;
using System.Text;

namespace Warren.LoadTest;

/// <summary>Two-panel SVG: req/s and p99 (log scale) against concurrency, one line per target (ssh -R: points where measured).</summary>
internal static class Chart
{
    private static readonly (string Target, string Label, string Color)[] s_series =
    [
        ("warren", "Warren (edge + agent, TLS)", "#d62728"),
        ("yarp", "YARP one-hop", "#9467bd"),
        ("nginx", "nginx one-hop", "#2ca02c"),
        ("direct", "direct to backend", "#1f77b4"),
        ("ssh", "ssh -R", "#ff7f0e"),
    ];

    public static string Render(BenchResults results, int[] levels, string title)
    {
        const int width = 960, height = 420, panelWidth = 400, panelHeight = 280, top = 70;
        var svg = new StringBuilder();
        svg.Append(Inv($"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" font-family=\"sans-serif\" font-size=\"12\">\n"));
        svg.Append(Inv($"<rect width=\"{width}\" height=\"{height}\" fill=\"white\"/>\n"));
        svg.Append(Inv($"<text x=\"{width / 2}\" y=\"24\" text-anchor=\"middle\" font-size=\"16\">{Escape(title)}</text>\n"));

        var maxRps = results.Wrk.Where(r => r.Phase == "conc").Select(r => r.Rps).DefaultIfEmpty(1).Max() * 1.1;
        Panel(svg, results, levels, 70, top, panelWidth, panelHeight, "requests/s (6-byte body)", r => r.Rps, 0, maxRps, log: false);
        var p99s = results.Wrk.Where(r => r.Phase == "conc" && r.P99Ms > 0).Select(r => r.P99Ms).DefaultIfEmpty(1).ToArray();
        var lo = Math.Pow(10, Math.Floor(Math.Log10(p99s.Min())));
        var hi = Math.Pow(10, Math.Ceiling(Math.Log10(p99s.Max() * 1.01)));
        Panel(svg, results, levels, 540, top, panelWidth, panelHeight, "p99 latency, ms (log scale)", r => r.P99Ms, lo, hi, log: true);

        var x = 70;
        foreach (var (_, label, color) in s_series.Where(s => results.Wrk.Any(r => r.Phase == "conc" && r.Target == s.Target)))
        {
            svg.Append(Inv($"<line x1=\"{x}\" y1=\"44\" x2=\"{x + 24}\" y2=\"44\" stroke=\"{color}\" stroke-width=\"3\"/><text x=\"{x + 30}\" y=\"48\">{Escape(label)}</text>\n"));
            x += 50 + (label.Length * 7);
        }
        svg.Append("</svg>\n");
        return svg.ToString();
    }

    private static void Panel(StringBuilder svg, BenchResults results, int[] levels, int left, int top, int w, int h, string label,
        Func<WrkRun, double> value, double min, double max, bool log)
    {
        double Y(double v) => log
            ? top + h - ((Math.Log10(Math.Max(v, min)) - Math.Log10(min)) / (Math.Log10(max) - Math.Log10(min)) * h)
            : top + h - ((v - min) / (max - min) * h);
        double X(int i) => left + ((i + 0.5) * w / levels.Length);

        svg.Append(Inv($"<rect x=\"{left}\" y=\"{top}\" width=\"{w}\" height=\"{h}\" fill=\"none\" stroke=\"#888\"/>\n"));
        svg.Append(Inv($"<text x=\"{left + (w / 2)}\" y=\"{top - 8}\" text-anchor=\"middle\" font-weight=\"bold\">{Escape(label)}</text>\n"));
        svg.Append(Inv($"<text x=\"{left + (w / 2)}\" y=\"{top + h + 36}\" text-anchor=\"middle\">concurrent connections</text>\n"));
        var ticks = log
            ? Enumerable.Range(0, (int)Math.Round(Math.Log10(max / min)) + 1).Select(k => min * Math.Pow(10, k))
            : Enumerable.Range(0, 6).Select(k => min + ((max - min) * k / 5));
        foreach (var t in ticks)
        {
            var y = Y(t);
            svg.Append(Inv($"<line x1=\"{left}\" y1=\"{y:F1}\" x2=\"{left + w}\" y2=\"{y:F1}\" stroke=\"#eee\"/>"));
            svg.Append(Inv($"<text x=\"{left - 6}\" y=\"{y + 4:F1}\" text-anchor=\"end\">{Escape(FormatTick(t))}</text>\n"));
        }
        for (var i = 0; i < levels.Length; i++)
        {
            svg.Append(Inv($"<text x=\"{X(i):F1}\" y=\"{top + h + 16}\" text-anchor=\"middle\">{levels[i]}</text>\n"));
        }
        foreach (var (target, _, color) in s_series)
        {
            var points = new List<string>();
            for (var i = 0; i < levels.Length; i++)
            {
                if (results.Find("conc", target, levels[i]) is { } run)
                {
                    points.Add(Inv($"{X(i):F1},{Y(value(run)):F1}"));
                    svg.Append(Inv($"<circle cx=\"{X(i):F1}\" cy=\"{Y(value(run)):F1}\" r=\"3\" fill=\"{color}\"/>"));
                }
            }
            // A line only through a full series: one measured at a few levels (ssh -R) gets points, not a misleading line.
            if (points.Count == levels.Length)
            {
                svg.Append(Inv($"<polyline points=\"{string.Join(' ', points)}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"2\"/>\n"));
            }
        }
    }

    private static string FormatTick(double t) => t switch
    {
        >= 1000 => Inv($"{t / 1000:0.#}k"),
        >= 1 => Inv($"{t:0.#}"),
        _ => Inv($"{t:0.###}"),
    };

    private static string Inv(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);

    private static string Escape(string s) => s.Replace("&", "&amp;", StringComparison.Ordinal).Replace("<", "&lt;", StringComparison.Ordinal);
}
