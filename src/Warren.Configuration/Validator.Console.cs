using System.Globalization;

namespace Warren.Configuration;

/// <summary>The console's settings (docs/console.md): request log retention and queue, the inspector's bounds, token quotas.</summary>
internal static partial class Validator
{
    private static void CheckConsole(Diagnostics d, EdgeConfig config)
    {
        var log = config.RequestLog;
        if (log.Retention < TimeSpan.FromHours(1) || log.Retention > TimeSpan.FromDays(365))
        {
            d.Report("request_log.retention", $"must be 1h to 8760h (it is {log.Retention.TotalHours.ToString(CultureInfo.InvariantCulture)}h)");
        }

        if (log.MaxSize is < 1_000_000 or > 1_000_000_000_000)
        {
            d.Report("request_log.max_size", $"must be 1MB to 1TB (it is {log.MaxSize} bytes)");
        }

        if (log.Queue is < 64 or > 1_048_576)
        {
            d.Report("request_log.queue", $"must be 64 to 1048576 records (it is {log.Queue})");
        }

        var inspector = config.Inspector;
        if (inspector.MaxBody is < 0 or > 1 << 20)
        {
            d.Report("inspector.max_body", $"must be 0 to 1MiB (it is {inspector.MaxBody} bytes); bodies are kept in memory");
        }

        if (inspector.MaxRequests is < 1 or > 10_000)
        {
            d.Report("inspector.max_requests", $"must be 1 to 10000 (it is {inspector.MaxRequests})");
        }

        for (var i = 0; i < inspector.Services.Count; i++)
        {
            if (!ServiceRules.IsName(inspector.Services[i]))
            {
                d.Report(Diagnostics.Item("inspector.services", i), ServiceRules.NameProblem(inspector.Services[i], "service"));
            }
        }

        for (var i = 0; i < inspector.ShowHeaders.Count; i++)
        {
            var name = inspector.ShowHeaders[i];
            if (name.Length is 0 or > 128 || !name.All(c => char.IsAsciiLetterOrDigit(c) || c == '-'))
            {
                d.Report(Diagnostics.Item("inspector.show_headers", i), $"'{name}' is not a header name (letters, digits and '-')");
            }
        }
    }

    private static void CheckQuota(Diagnostics d, string path, QuotaConfig? quota)
    {
        if (quota is null)
        {
            return;
        }

        if (quota.Daily is null && quota.Monthly is null)
        {
            d.Report(path, "set daily, monthly or both (e.g. daily: 10GB), or remove quota");
        }

        foreach (var (key, value) in new[] { ("daily", quota.Daily), ("monthly", quota.Monthly) })
        {
            if (value is < QuotaConfig.Minimum)
            {
                d.Report($"{path}.{key}", $"must be at least 1MB (it is {value} bytes)");
            }
        }

        if (quota is { Daily: { } daily, Monthly: { } monthly } && daily > monthly)
        {
            d.Report($"{path}.daily", $"is larger than monthly ({daily} > {monthly} bytes); the daily quota could never be reached");
        }
    }
}
