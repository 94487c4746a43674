using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Primitives;
using Warren.Configuration;

namespace Warren.Edge.Policy;

/// <summary>
/// <c>basic_auth</c>: htpasswd bcrypt hashes checked with BCrypt.Net-Next. bcrypt costs tens of milliseconds by design,
/// and a browser sends the same Authorization header on every request, so a header that verified is remembered for
/// <see cref="CacheLifetime"/> (at most <see cref="MaxCached"/> headers per layer) as an HMAC under a per-process key,
/// never the password. Unknown users are checked against a dummy hash, so the time taken does not say which names exist.
/// <para>
/// The public listener runs requests inline on its socket threads (EdgeServer: inline scheduling), so a cache miss
/// never verifies there: it goes to the thread pool, at most <see cref="MaxConcurrentVerifications"/> at a time
/// edge-wide, with at most <see cref="MaxQueuedVerifications"/> requests waiting; past that the answer is
/// <see cref="BasicVerdict.Busy"/> (503 with Retry-After) without verifying. A flood of wrong passwords therefore holds
/// half the cores at most and never a socket thread (docs/security.md, "Policies"). Identical headers arriving together
/// (a browser's parallel requests) share one verification.
/// </para>
/// </summary>
internal sealed class BasicAuthenticator
{
    public static readonly TimeSpan CacheLifetime = TimeSpan.FromMinutes(5);

    /// <summary>Verified headers remembered per layer; when full, expired ones go, and if none had, all go.</summary>
    public const int MaxCached = 4096;

    /// <summary>bcrypt verifications running at once, edge-wide: half the cores, at least one.</summary>
    public static readonly int MaxConcurrentVerifications = Math.Max(1, Environment.ProcessorCount / 2);

    /// <summary>Requests waiting for a verification, edge-wide; more get <see cref="BasicVerdict.Busy"/>.</summary>
    public const int MaxQueuedVerifications = 256;

    private static readonly byte[] CacheKey = RandomNumberGenerator.GetBytes(32);
    private static readonly Lazy<string> DummyHash = new(() => BCrypt.Net.BCrypt.HashPassword("warren-dummy-password", 10));
    private static readonly SemaphoreSlim Verifiers = new(MaxConcurrentVerifications, MaxConcurrentVerifications);
    private static int _queued;

    private readonly Dictionary<string, string> _users;
    private readonly ConcurrentDictionary<string, long> _verified = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, Task<bool>> _verifying = new(StringComparer.Ordinal);
    private readonly TimeProvider _time;
    private long _verifications;

    private BasicAuthenticator(BasicAuthConfig config, TimeProvider time)
    {
        _time = time;
        _users = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var line in config.Users)
        {
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            _users[line[..colon]] = line[(colon + 1)..];
        }
        Challenge = $"Basic realm=\"{config.Realm}\", charset=\"UTF-8\"";
    }

    /// <summary>The WWW-Authenticate value for a 401.</summary>
    public string Challenge { get; }

    /// <summary>bcrypt verifications this layer has run (cache misses that were verified).</summary>
    public long Verifications => Interlocked.Read(ref _verifications);

    public static BasicAuthenticator? Compile(BasicAuthConfig? config, TimeProvider time) => config is null ? null : new(config, time);

    /// <summary>
    /// Whether the request's Basic credentials are valid. Completes synchronously for a header that verified recently
    /// or is malformed; a cache miss completes once the thread pool has run bcrypt.
    /// </summary>
    public ValueTask<BasicVerdict> AuthenticateAsync(StringValues authorization, CancellationToken cancellationToken)
    {
        if (authorization.Count != 1 || authorization[0] is not { } header || !header.StartsWith("Basic ", StringComparison.OrdinalIgnoreCase) || header.Length > 4096)
        {
            return new(BasicVerdict.Rejected);
        }
        var cacheKey = Convert.ToBase64String(HMACSHA256.HashData(CacheKey, Encoding.UTF8.GetBytes(header)));
        if (_verified.TryGetValue(cacheKey, out var expires))
        {
            if (_time.GetTimestamp() < expires)
            {
                return new(BasicVerdict.Accepted);
            }
            _verified.TryRemove(new KeyValuePair<string, long>(cacheKey, expires));
        }
        string user, password;
        try
        {
            var decoded = Encoding.UTF8.GetString(Convert.FromBase64String(header.AsSpan(6).Trim().ToString()));
            var colon = decoded.IndexOf(':', StringComparison.Ordinal);
            if (colon <= 0)
            {
                return new(BasicVerdict.Rejected);
            }
            user = decoded[..colon];
            password = decoded[(colon + 1)..];
        }
        catch (FormatException)
        {
            return new(BasicVerdict.Rejected);
        }
        return VerifyAsync(cacheKey, user, password, cancellationToken);
    }

    private async ValueTask<BasicVerdict> VerifyAsync(string cacheKey, string user, string password, CancellationToken cancellationToken)
    {
        if (Interlocked.Increment(ref _queued) > MaxQueuedVerifications)
        {
            Interlocked.Decrement(ref _queued);
            return BasicVerdict.Busy;
        }
        try
        {
            // The first request with this header verifies; the others with it wait for the same answer.
            var verification = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
            var shared = _verifying.GetOrAdd(cacheKey, verification.Task);
            if (shared == verification.Task)
            {
                _ = RunAsync(cacheKey, user, password, verification);
            }
            var ok = await shared.WaitAsync(cancellationToken).ConfigureAwait(false);
            return ok ? BasicVerdict.Accepted : BasicVerdict.Rejected;
        }
        finally
        {
            Interlocked.Decrement(ref _queued);
        }
    }

    /// <summary>Verifies on the thread pool once a slot is free, remembers a success, then answers everyone waiting.</summary>
    private async Task RunAsync(string cacheKey, string user, string password, TaskCompletionSource<bool> verification)
    {
        var ok = false;
        try
        {
            await Verifiers.WaitAsync().ConfigureAwait(false);
            try
            {
                ok = await Task.Run(() => Verify(user, password)).ConfigureAwait(false);
            }
            finally
            {
                Verifiers.Release();
            }
            if (ok)
            {
                Remember(cacheKey);
            }
        }
        finally
        {
            _verifying.TryRemove(new KeyValuePair<string, Task<bool>>(cacheKey, verification.Task));
            verification.TrySetResult(ok);
        }
    }

    private void Remember(string cacheKey)
    {
        var now = _time.GetTimestamp();
        if (_verified.Count >= MaxCached)
        {
            foreach (var (key, expires) in _verified)
            {
                if (expires <= now)
                {
                    _verified.TryRemove(new KeyValuePair<string, long>(key, expires));
                }
            }
            if (_verified.Count >= MaxCached)
            {
                _verified.Clear(); // bounded: the next requests pay one bcrypt each again
            }
        }
        _verified[cacheKey] = now + (long)(CacheLifetime.TotalSeconds * _time.TimestampFrequency);
    }

    private bool Verify(string user, string password)
    {
        Interlocked.Increment(ref _verifications);
        var known = _users.TryGetValue(user, out var hash);
        try
        {
            return BCrypt.Net.BCrypt.Verify(password, known ? hash : DummyHash.Value) && known;
        }
        catch (BCrypt.Net.SaltParseException)
        {
            return false;
        }
    }
}
