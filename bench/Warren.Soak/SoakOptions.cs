using System.Globalization;
using Warren.LoadTest;

namespace Warren.Soak;

internal sealed record SoakOptions(
    string Warren, TimeSpan Duration, TimeSpan RestartEvery, int Workers, TimeSpan Settle, TimeSpan OpTimeout,
    string Work, string Report, int Seed, string Command)
{
    public static SoakOptions From(Args args)
    {
        var warren = Path.GetFullPath(args.Required("warren"));
        if (!File.Exists(warren))
        {
            throw new ArgumentException($"--warren {warren}: no such file (bench/soak.sh publishes it to artifacts/soak/warren/warren)");
        }
        var work = Path.GetFullPath(args.Get("work", "/tmp/warren-soak"));
        var options = new SoakOptions(
            warren,
            ParseDuration(args, "duration", "10m", TimeSpan.FromSeconds(10)),
            ParseDuration(args, "restart-every", "60s", TimeSpan.Zero),
            args.Int("workers", 16),
            ParseDuration(args, "settle", "180s", TimeSpan.FromSeconds(1)),
            ParseDuration(args, "op-timeout", "60s", TimeSpan.FromSeconds(1)),
            work,
            Path.GetFullPath(args.Get("report", Path.Combine(work, "report.md"))),
            args.Int("seed", 1),
            args.Get("command", "warren-soak " + string.Join(' ', Environment.GetCommandLineArgs().Skip(1))));
        if (options.Workers is < 1 or > 1024)
        {
            throw new ArgumentException($"--workers {options.Workers}: must be 1 to 1024");
        }
        if (options.RestartEvery > TimeSpan.Zero && options.RestartEvery < TimeSpan.FromSeconds(10))
        {
            throw new ArgumentException("--restart-every: at least 10s (an agent needs a few seconds to drain and come back), or 0 for none");
        }
        return options;
    }

    /// <summary>"90s", "10m", "1h" or a plain number of seconds, at least <paramref name="minimum"/>.</summary>
    internal static TimeSpan ParseDuration(Args args, string key, string fallback, TimeSpan minimum)
    {
        var text = args.Get(key, fallback).Trim();
        if (text.Length == 0)
        {
            throw new ArgumentException($"--{key}: empty; expected a duration such as 90s, 10m or 1h");
        }
        var unit = char.IsLetter(text[^1]) ? text[^1] : 's';
        var number = char.IsLetter(text[^1]) ? text[..^1] : text;
        if (!double.TryParse(number, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) || value < 0 || unit is not ('s' or 'm' or 'h'))
        {
            throw new ArgumentException($"--{key} {text}: expected a duration such as 90s, 10m or 1h");
        }
        var result = TimeSpan.FromSeconds(value * unit switch { 'h' => 3600, 'm' => 60, _ => 1 });
        if (result < minimum)
        {
            throw new ArgumentException($"--{key} {text}: at least {minimum.TotalSeconds:0} s");
        }
        return result;
    }
}
