using System.Security.Cryptography;
using System.Text;
using Warren.Configuration;
using Warren.Net.Time;

namespace Warren.Edge.Tokens;

/// <summary>
/// Checks agent tokens from edge.yaml and from the token store. Only SHA-256 hashes are held, the presented
/// secret's length is capped before hashing, and hashes are compared in constant time against every known token
/// (no early exit that leaks which one). The store is re-read periodically; tokens that disappear (revoked) are
/// reported through <see cref="TokensRevoked"/> so their live sessions can be closed.
/// </summary>
internal sealed class TokenValidator : IDisposable
{
    public const int MaxTokenLength = 512;
    private (byte[] Hash, TokenGrant Grant)[] _configured;
    private readonly ITokenStore? _store;
    private readonly ITimer? _refresh;
    private (byte[] Hash, TokenGrant Grant)[] _tokens;
    private readonly Lock _storeLock = new();
    private bool _disposed;

    public TokenValidator(IEnumerable<EdgeTokenConfig> configured, ITokenStore? store = null, TimeProvider? time = null, TimeSpan? refreshInterval = null)
    {
        _configured = FromConfig(configured);
        _store = store;
        _tokens = Load();
        if (store is not null)
        {
            var interval = refreshInterval ?? TimeSpan.FromSeconds(2);
            _refresh = (time ?? TimeProvider.System).CreateAligned(static s => ((TokenValidator)s!).Refresh(), this, interval);
            store.Updated += Refresh; // a revoke on another edge closes its sessions here at once (docs/cluster.md, "Revocation")
        }
    }

    /// <summary>Raised with the names of tokens that were valid and no longer are.</summary>
    public event Action<IReadOnlySet<string>>? TokensRevoked;

    public int Count => Volatile.Read(ref _tokens).Length;

    /// <summary>The token database (the admin API creates and revokes tokens in it); null in tests without one.</summary>
    public ITokenStore? Store => _store;

    /// <summary>Every valid token's grant (edge.yaml's and the store's), as of the last refresh.</summary>
    public IEnumerable<TokenGrant> Grants => Volatile.Read(ref _tokens).Select(t => t.Grant);

    /// <summary>Raised after a refresh found the store changed (a token created, revoked or given a quota).</summary>
    public event Action? Changed;

    public TokenGrant? Validate(string? presented)
    {
        if (string.IsNullOrEmpty(presented) || presented.Length > MaxTokenLength)
        {
            return null;
        }
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes(presented));
        TokenGrant? match = null;
        foreach (var (expected, grant) in Volatile.Read(ref _tokens))
        {
            if (CryptographicOperations.FixedTimeEquals(hash, expected))
            {
                match = grant;
            }
        }
        return match;
    }

    /// <summary>Re-reads the store; called by the timer, and by tests. Does nothing once disposed.</summary>
    internal void Refresh()
    {
        (byte[] Hash, TokenGrant Grant)[] next;
        // A tick already running when the edge stops must not read the store Dispose is closing: an exception on
        // the timer's thread ends the process (seen as a test host crash at shutdown under load).
        lock (_storeLock)
        {
            try
            {
                if (_disposed || _store is null || !_store.HasChanged())
                {
                    return;
                }
                next = Load();
            }
            catch (Microsoft.Data.Sqlite.SqliteException)
            {
                return; // busy or briefly locked by the CLI: keep the last good view, try again next tick
            }
        }
        var previous = Interlocked.Exchange(ref _tokens, next);
        Changed?.Invoke();
        var gone = previous.Select(t => t.Grant.Name).Except(next.Select(t => t.Grant.Name)).ToHashSet();
        if (gone.Count > 0)
        {
            TokensRevoked?.Invoke(gone);
        }
    }

    private static (byte[] Hash, TokenGrant Grant)[] FromConfig(IEnumerable<EdgeTokenConfig> configured) =>
        [.. configured.Select(t => (
            t.TokenSha256 is { } hex ? Convert.FromHexString(hex) : SHA256.HashData(Encoding.UTF8.GetBytes(t.Token!)),
            new TokenGrant(t.Name, t.AllowHosts, t.AllowPorts)
            {
                RequirePolicies = t.RequirePolicies, Quota = t.Quota, AllowPrivate = t.AllowPrivate, AllowConnect = t.AllowConnect,
            }))];

    /// <summary>
    /// Hot reload (docs/operations.md): edge.yaml's tokens are replaced. Returns the names whose secret or grant
    /// changed: their sessions register again under the new rules. Tokens that are gone are reported through
    /// <see cref="TokensRevoked"/>, as a revoke is.
    /// </summary>
    public IReadOnlySet<string> ReplaceConfigured(IEnumerable<EdgeTokenConfig> configured)
    {
        var replacement = FromConfig(configured);
        (byte[] Hash, TokenGrant Grant)[] previous, next;
        lock (_storeLock)
        {
            _configured = replacement;
            next = Load();
            previous = Interlocked.Exchange(ref _tokens, next);
        }
        Changed?.Invoke(); // a quota is not part of SameAs (sessions need not register again); the accounting re-reads it here
        var gone = previous.Select(t => t.Grant.Name).Except(next.Select(t => t.Grant.Name)).ToHashSet();
        var changed = previous.Where(old => next.Any(n => n.Grant.Name == old.Grant.Name) && !next.Any(n => n.Grant.Name == old.Grant.Name
            && n.Hash.AsSpan().SequenceEqual(old.Hash) && n.Grant.SameAs(old.Grant))).Select(t => t.Grant.Name).ToHashSet();
        if (gone.Count > 0)
        {
            TokensRevoked?.Invoke(gone);
        }
        return changed;
    }

    private (byte[] Hash, TokenGrant Grant)[] Load() =>
        _store is null
            ? _configured
            : [.. _configured, .. _store.List().Where(t => t.RevokedAt is null).Select(t => (t.Hash,
                new TokenGrant(t.Name, [.. t.AllowHosts.Select(HostNames.ToLowerAscii)], t.AllowPorts) { MaxSessions = t.MaxSessions, Quota = t.Quota, AllowPrivate = t.AllowPrivate, AllowConnect = t.AllowConnect }))];

    public void Dispose()
    {
        _refresh?.Dispose();
        if (_store is not null)
        {
            _store.Updated -= Refresh;
        }
        lock (_storeLock)
        {
            _disposed = true;
            _store?.Dispose();
        }
    }
}
