using Microsoft.Extensions.Logging;
using Warren.Agent.Connection;
using Warren.Agent.Services;
using Warren.Configuration;

namespace Warren.Agent;

/// <summary>Hot reload of agent.yaml (docs/operations.md, "Reload"): services added, removed or changed over the live sessions.</summary>
public sealed partial class WarrenAgent
{
    private readonly ServiceSet _services;
    private readonly AgentConfig _started;
    private readonly Func<AgentConfig>? _reloadSource;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _reloading = new(1, 1);

    /// <summary>Reads agent.yaml again (<see cref="WarrenAgentOptions.ReloadSource"/>) and applies it; refused whole when it is invalid.</summary>
    public async Task<ReloadResult> ReloadAsync()
    {
        if (!ConfigReload.TryRead(_reloadSource, "agent", out var next, out var refused))
        {
            Log.ReloadRefused(_logger, refused.Error!);
            return refused;
        }
        return await ReloadAsync(next).ConfigureAwait(false);
    }

    /// <summary>
    /// Applies <paramref name="next"/> (already validated). Services: new and changed ones are served at once, every
    /// live session registers the new set over its control stream (no reconnect), and only then do removed ones stop
    /// taking streams; streams already open are never touched, and a service that did not change keeps its slots.
    /// drain_timeout applies too; the edge address, token, name, connections, admin listener and session settings
    /// need a restart and are named in the result.
    /// </summary>
    public async Task<ReloadResult> ReloadAsync(AgentConfig next)
    {
        ArgumentNullException.ThrowIfNull(next);
        await _reloading.WaitAsync().ConfigureAwait(false);
        try
        {
            var applied = new List<string>();
            var (added, changed, removed) = _services.Publish(next.Services);
            var current = Config;
            Config = next with
            {
                Edge = _started.Edge, Edges = _started.Edges, Token = _started.Token, EdgeFingerprint = _started.EdgeFingerprint, Insecure = _started.Insecure, SealedRecords = _started.SealedRecords,
                Name = _started.Name, Connections = _started.Connections, Admin = _started.Admin, AdminToken = _started.AdminToken,
                Session = _started.Session,
            };
            if (added.Count + changed.Count + removed.Count > 0)
            {
                var sessions = 0;
                foreach (var connection in _connections)
                {
                    try
                    {
                        sessions += await connection.RegisterAgainAsync(_stopping.Token).ConfigureAwait(false) ? 1 : 0;
                    }
                    catch (Exception ex) when (ex is IOException or OperationCanceledException or AgentRejectedException or Protocol.Session.MuxException)
                    {
                        // That session is ending; the one that replaces it registers the new set.
                        Log.RegisterAgainFailed(_logger, connection.Index, ex.Message);
                    }
                }
                _services.Retire();
                applied.Add($"services (registered again on {sessions} session(s)): {Describe(added, changed, removed)}");
            }
            if (current.DrainTimeout != next.DrainTimeout)
            {
                applied.Add("drain_timeout");
            }
            var result = new ReloadResult { Ok = true, Applied = applied, RestartRequired = RestartRequired(_started, next) };
            Log.Reloaded(_logger, result.ToString());
            return result;
        }
        finally
        {
            _reloading.Release();
        }
    }

    private static string Describe(IReadOnlyList<string> added, IReadOnlyList<string> changed, IReadOnlyList<string> removed)
    {
        var parts = new List<string>();
        if (added.Count > 0)
        {
            parts.Add("added " + string.Join(", ", added));
        }
        if (changed.Count > 0)
        {
            parts.Add("changed " + string.Join(", ", changed));
        }
        if (removed.Count > 0)
        {
            parts.Add("removed " + string.Join(", ", removed));
        }
        return string.Join("; ", parts);
    }

    private static List<string> RestartRequired(AgentConfig started, AgentConfig next) => ConfigReload.Changed(
        ConfigReload.Key("edge", started.Edge, next.Edge),
        ConfigReload.Key("edges", string.Join(' ', started.Edges), string.Join(' ', next.Edges)),
        ConfigReload.Key("token", started.Token, next.Token),
        ConfigReload.Key("edge_fingerprint", started.EdgeFingerprint, next.EdgeFingerprint),
        ConfigReload.Key("insecure", started.Insecure, next.Insecure),
        ConfigReload.Key("sealed_records", started.SealedRecords, next.SealedRecords),
        ConfigReload.Key("name", started.Name, next.Name),
        ConfigReload.Key("connections", started.Connections, next.Connections),
        ConfigReload.Key("admin", started.Admin, next.Admin),
        ConfigReload.Key("admin_token", started.AdminToken, next.AdminToken),
        ConfigReload.Key("session", started.Session, next.Session));

    private static partial class Log
    {
        [LoggerMessage(140, LogLevel.Information, "Configuration reloaded: {Result}", EventName = "Reloaded")]
        public static partial void Reloaded(ILogger logger, string result);

        [LoggerMessage(141, LogLevel.Error, "Configuration reload refused, the running configuration stays: {Error}", EventName = "ReloadRefused")]
        public static partial void ReloadRefused(ILogger logger, string error);

        [LoggerMessage(142, LogLevel.Warning, "Session {Index} could not register the reloaded services ({Message}); its next session will", EventName = "RegisterAgainFailed")]
        public static partial void RegisterAgainFailed(ILogger logger, int index, string message);

        [LoggerMessage(143, LogLevel.Information, "drain_timeout of {Seconds} s reached: ending the TCP streams still open cleanly", EventName = "EndingLongStreams")]
        public static partial void EndingLongStreams(ILogger logger, double seconds);
    }
}
