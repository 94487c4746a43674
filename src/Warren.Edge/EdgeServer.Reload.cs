using Microsoft.Extensions.Logging;
using Warren.Configuration;
using Warren.Edge.Policy;
using Warren.Edge.Tls;

namespace Warren.Edge;

/// <summary>Hot reload of edge.yaml (docs/operations.md, "Reload"): only what changed is applied, nothing is dropped.</summary>
public sealed partial class EdgeServer
{
    private readonly SemaphoreSlim _reloading = new(1, 1);
    private EdgeConfig _started = null!;
    private EdgeConfig _current = null!;
    private SniCertificateSelector? _sni;
    private EdgePolicies _policies = null!;
    private Func<EdgeConfig>? _reloadSource;
    private ILogger _logger = null!;
    private Limits.LiveLimits _limits = null!;

    /// <summary>The configuration in force (what the last reload applied).</summary>
    public EdgeConfig Config => Volatile.Read(ref _current);

    /// <summary>True when the edge was started with a file a reload can read again.</summary>
    public bool CanReload => _reloadSource is not null;

    /// <summary>Reads edge.yaml again (<see cref="EdgeServerOptions.ReloadSource"/>) and applies it; refused whole when it is invalid.</summary>
    public async Task<ReloadResult> ReloadAsync()
    {
        if (!ConfigReload.TryRead(_reloadSource, "edge", out var next, out var refused))
        {
            Log.ReloadRefused(_logger, refused.Error!);
            return refused;
        }
        return await ReloadAsync(next).ConfigureAwait(false);
    }

    /// <summary>
    /// Applies <paramref name="next"/> (already validated): tokens and grants, certificates (their files are read
    /// again even when their paths did not change: a renewed certificate), policies, the grace queue and
    /// drain_timeout take effect now; everything else waits for a restart and is named in the result. The new
    /// certificates and policies are prepared first: if one cannot be loaded, nothing changes.
    /// <para>
    /// Sessions of a token whose grant changed, or all sessions when edge policies changed, are drained (GOAWAY):
    /// their agents connect again at once and register under the new rules, in-flight streams finish on the old
    /// session, and new requests wait in the grace queue meanwhile. A token that is gone closes its sessions, as a
    /// revoke does.
    /// </para>
    /// </summary>
    public async Task<ReloadResult> ReloadAsync(EdgeConfig next)
    {
        ArgumentNullException.ThrowIfNull(next);
        await _reloading.WaitAsync().ConfigureAwait(false);
        try
        {
            var current = Config;
            var applied = new List<string>();
            System.Collections.Frozen.FrozenDictionary<string, System.Net.Security.SslStreamCertificateContext>? certificates = null;
            Action? policies = null;
            try
            {
                if (_sni is not null)
                {
                    certificates = SniCertificateSelector.Load(next.Certificates);
                }
                if (!Same(current.Policies, next.Policies))
                {
                    policies = _policies.Prepare(next);
                }
            }
            catch (Exception ex) when (ex is IOException or InvalidOperationException or ArgumentException or FormatException
                or System.Security.Cryptography.CryptographicException or UnauthorizedAccessException)
            {
                var error = $"{next.SourcePath ?? "edge.yaml"}: {ex.Message}";
                Log.ReloadRefused(_logger, error);
                return ReloadResult.Refused(error);
            }

            if (certificates is not null)
            {
                _sni!.ReplaceConfigured(certificates);
                applied.Add($"certificates: {next.Certificates.Count} read again");
            }
            var drain = new HashSet<string>(StringComparer.Ordinal);
            if (!Same(current.Tokens, next.Tokens))
            {
                drain.UnionWith(_tokens.ReplaceConfigured(next.Tokens)); // gone tokens close their sessions (TokensRevoked)
                applied.Add("tokens");
            }
            if (policies is not null)
            {
                policies();
                drain.UnionWith(State.Sessions.Select(s => s.TokenName));
                applied.Add("policies");
            }
            if (!Same(current.Shield, next.Shield))
            {
                Shield.Configure(next.Shield);
                applied.Add("shield");
            }
            if (current.Grace != next.Grace)
            {
                State.Routes.Grace = next.Grace;
                applied.Add("grace");
            }
            // Limits whose limiter takes a new value take it now; the rest are named below as needing a restart.
            applied.AddRange(_limits.Apply(current.Limits, next.Limits));
            if (current.DrainTimeout != next.DrainTimeout)
            {
                applied.Add("drain_timeout");
            }
            foreach (var session in State.Sessions.Where(s => drain.Contains(s.TokenName)))
            {
                session.Mux.GoAway("the edge's configuration changed: register again");
            }
            if (drain.Count > 0)
            {
                applied.Add($"sessions of {drain.Count} token(s) register again");
            }

            // What needs a restart is compared with what the edge started with: it stays named until a restart.
            var restart = RestartRequired(_started, next);
            restart.AddRange(Limits.LiveLimits.RestartRequired(_started.Limits, next.Limits));
            Volatile.Write(ref _current, next with
            {
                Listen = _started.Listen, DataDirectory = _started.DataDirectory, AgentTls = _started.AgentTls, Limits = Limits.LiveLimits.InForce(_started.Limits, next.Limits),
                Session = _started.Session, Acme = _started.Acme, AdminToken = _started.AdminToken, TrustedProxies = _started.TrustedProxies,
                AccessLog = _started.AccessLog,
            });
            var result = new ReloadResult { Ok = true, Applied = applied, RestartRequired = restart };
            Log.Reloaded(_logger, result.ToString());
            return result;
        }
        finally
        {
            _reloading.Release();
        }
    }

    private static List<string> RestartRequired(EdgeConfig started, EdgeConfig next) => ConfigReload.Changed(
        ConfigReload.Key("listen.http", started.Listen.Http, next.Listen.Http),
        ConfigReload.Key("listen.https", started.Listen.Https, next.Listen.Https),
        ConfigReload.Key("listen.agents", started.Listen.Agents, next.Listen.Agents),
        ConfigReload.Key("listen.admin", started.Listen.Admin, next.Listen.Admin),
        ConfigReload.Key("data", started.DataDirectory, next.DataDirectory),
        ConfigReload.Key("agent_tls", started.AgentTls, next.AgentTls),
        ConfigReload.Key("session", started.Session, next.Session),
        ConfigReload.Key("acme", started.Acme, next.Acme),
        ConfigReload.Key("admin_token", started.AdminToken, next.AdminToken),
        ConfigReload.Key("trusted_proxies", started.TrustedProxies, next.TrustedProxies),
        ConfigReload.Key("access_log", started.AccessLog, next.AccessLog));

    private static bool Same<T>(T a, T b) => ConfigReload.Same(a, b);

    private static partial class Log
    {
        [LoggerMessage(600, LogLevel.Information, "Configuration reloaded: {Result}", EventName = "Reloaded")]
        public static partial void Reloaded(ILogger logger, string result);

        [LoggerMessage(601, LogLevel.Error, "Configuration reload refused, the running configuration stays: {Error}", EventName = "ReloadRefused")]
        public static partial void ReloadRefused(ILogger logger, string error);

        [LoggerMessage(640, LogLevel.Information, "drain_timeout of {Seconds} s reached: ending the TCP connections and WebSockets still open cleanly", EventName = "EndingLongStreams")]
        public static partial void EndingLongStreams(ILogger logger, double seconds);
    }
}
