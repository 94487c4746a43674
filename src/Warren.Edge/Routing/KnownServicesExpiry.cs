using Microsoft.Extensions.Logging;

namespace Warren.Edge.Routing;

/// <summary>
/// grace.remember after the start, the restored services no agent registered again are forgotten (404 from then on):
/// a service withdrawn while the edge was down must not answer 503 for ever (docs/operations.md, "The grace queue").
/// </summary>
internal static partial class KnownServicesExpiry
{
    /// <summary>Null when nothing was restored; dispose to cancel.</summary>
    public static IDisposable? Start(RouteTable routes, int restored, TimeSpan remember, TimeProvider time, ILogger logger)
    {
        if (restored == 0)
        {
            return null;
        }
        Log.Restored(logger, restored, remember.TotalSeconds);
        return time.CreateTimer(_ =>
        {
            if (routes.ForgetRestored() is > 0 and var forgotten)
            {
                Log.Forgotten(logger, forgotten, remember.TotalSeconds);
            }
        }, null, remember, Timeout.InfiniteTimeSpan);
    }

    private static partial class Log
    {
        [LoggerMessage(1103, LogLevel.Information, "Routing {Count} service(s) known before this start to their grace queues until their agents register them again (grace.remember {Seconds} s)", EventName = "KnownServicesRestored")]
        public static partial void Restored(ILogger logger, int count, double seconds);

        [LoggerMessage(1104, LogLevel.Information, "Forgot {Count} service(s) known before this start that no agent registered again within grace.remember ({Seconds} s)", EventName = "KnownServicesForgotten")]
        public static partial void Forgotten(ILogger logger, int count, double seconds);
    }
}
