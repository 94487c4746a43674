using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging;
using Warren.Configuration;
using Warren.Edge.Routing;
using Warren.Edge.Tls;

namespace Warren.Edge.Acme;

/// <summary>
/// Keeps a certificate for every name that should have one (docs/https.md): the names of <c>acme.hosts</c>, and
/// with on-demand the hostnames agents register, mapped by <see cref="IssuancePolicy"/>. One loop does all work, one
/// order at a time (the CA's rate limits are per account; a queue is gentler than a burst): issue what is missing,
/// renew what is due (renewal information from the CA where offered, else two thirds of the lifetime with jitter),
/// and retry failures with back-off. Stored certificates are loaded at start and served at once; nothing is issued
/// again because the edge restarted. A failed renewal keeps serving the old certificate and shows in the log,
/// metrics (<see cref="AcmeMetrics"/>) and <c>warren status</c>. Schedules run on the injected
/// <see cref="TimeProvider"/>, so tests move time instead of sleeping.
/// </summary>
internal sealed partial class CertificateManager : IAsyncDisposable
{
    private readonly IssuancePolicy _policy;
    private readonly CertificateStore _store;
    private readonly AcmeIssuer _issuer;
    private readonly AcmeClient _client;
    private readonly SniCertificateSelector _sni;
    private readonly RouteTable _routes;
    private readonly TimeProvider _time;
    private readonly int _maxCertificates;
    private readonly ILogger _logger;
    private readonly Lock _lock = new();
    private readonly Dictionary<string, ManagedCertificate> _certificates = new(StringComparer.OrdinalIgnoreCase);
    private readonly HashSet<string> _reported = new(StringComparer.OrdinalIgnoreCase); // refused names already logged
    private readonly SemaphoreSlim _signal = new(0);
    private readonly CancellationTokenSource _stopping = new();
    private Task _loop = Task.CompletedTask;
    private long _issued;
    private long _failed;
    private long _refused;

    public CertificateManager(
        IssuancePolicy policy, CertificateStore store, AcmeClient client, AcmeIssuer issuer, SniCertificateSelector sni, RouteTable routes,
        int maxCertificates, TimeProvider time, ILogger logger)
    {
        _policy = policy;
        _store = store;
        _client = client;
        _issuer = issuer;
        _sni = sni;
        _routes = routes;
        _maxCertificates = maxCertificates;
        _time = time;
        _logger = logger;
    }

    /// <summary>Certificates issued (first ones and renewals) since start.</summary>
    public long Issued => Interlocked.Read(ref _issued);

    /// <summary>Orders or renewal attempts that failed since start.</summary>
    public long Failed => Interlocked.Read(ref _failed);

    /// <summary>Registered hostnames the policy or the certificate cap kept from the CA.</summary>
    public long Refused => Interlocked.Read(ref _refused);

    /// <summary>Orders sent to the CA since start.</summary>
    public long OrdersCreated => _issuer.OrdersCreated;

    /// <summary>Loads stored certificates, adds acme.hosts, follows the route table, and starts the loop.</summary>
    public void Start()
    {
        var now = _time.GetUtcNow();
        // Contexts are built before the lock is taken: building one may fetch (chain, OCSP) and the lock is never held across I/O.
        var stored = new List<(string Name, X509Certificate2Collection Chain, SslStreamCertificateContext Context)>();
        foreach (var (key, chain, error) in _store.LoadAll())
        {
            var name = key.StartsWith("_wildcard.", StringComparison.Ordinal) ? "*" + key["_wildcard".Length..] : key;
            if (error is not null || chain.Count == 0)
            {
                Log.StoredUnreadable(_logger, name, error ?? "empty");
                continue;
            }
            stored.Add((name, chain, EdgeCertificates.CreateContext(chain)));
            Log.StoredLoaded(_logger, name, new DateTimeOffset(chain[0].NotAfter));
        }
        lock (_lock)
        {
            foreach (var (name, chain, context) in stored)
            {
                var certificate = new ManagedCertificate(name) { NextAttempt = DateTimeOffset.MaxValue };
                Install(certificate, chain, context, now, fresh: false);
                _certificates[name] = certificate;
            }
            foreach (var host in _policy.Hosts)
            {
                Want(host, "config", now);
            }
            PublishUnsynchronized();
        }
        _routes.Changed += OnRoutesChanged;
        OnRoutesChanged();
        _loop = Task.Run(() => RunAsync(_stopping.Token));
    }

    /// <summary>A snapshot for /api/status and metrics.</summary>
    public IReadOnlyList<CertificateStatus> Snapshot()
    {
        var now = _time.GetUtcNow();
        lock (_lock)
        {
            return [.. _certificates.Values.OrderBy(c => c.Name, StringComparer.Ordinal).Select(c => new CertificateStatus(
                c.Name, c.Source, c.State(now), c.Leaf is null ? null : new DateTimeOffset(c.Leaf.NotAfter), c.RenewAt,
                c.Wanted && c.NextAttempt != DateTimeOffset.MaxValue ? c.NextAttempt : null, c.Failures, c.LastError, c.LastErrorAt, c.IssuedAt))];
        }
    }

    /// <summary>Recomputes on-demand names from the registered services; new ones are queued at once.</summary>
    private void OnRoutesChanged()
    {
        if (!_policy.OnDemand)
        {
            return;
        }
        var now = _time.GetUtcNow();
        var wanted = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var service in _routes.Services)
        {
            if (service.Sessions is not [var session, ..] || session.Grant is not { } grant)
            {
                continue;
            }
            foreach (var host in service.Registration.Hostnames)
            {
                if (_policy.CertificateFor(host, grant, out var reason) is { } name)
                {
                    wanted.Add(name);
                }
                else if (reason is not null && !_policy.CoveredByOperator(host.ToLowerInvariant()) && Report(host))
                {
                    Interlocked.Increment(ref _refused);
                    Log.NameRefused(_logger, host, reason);
                }
            }
        }
        var changed = false;
        lock (_lock)
        {
            foreach (var certificate in _certificates.Values.Where(c => c.Source == "on_demand" && !wanted.Contains(c.Name)))
            {
                // Not registered any more: still served (it may come back), no longer renewed.
                certificate.Wanted = false;
                certificate.Source = "stored";
                certificate.NextAttempt = DateTimeOffset.MaxValue;
                changed = true;
            }
            foreach (var name in wanted)
            {
                changed |= Want(name, "on_demand", now);
            }
            if (changed)
            {
                PublishUnsynchronized();
            }
        }
        if (changed)
        {
            _signal.Release();
        }
    }

    /// <summary>True the first time <paramref name="host"/> is refused, so each refusal is logged and counted once.</summary>
    private bool Report(string host)
    {
        lock (_lock)
        {
            return _reported.Count < 10_000 && _reported.Add(host);
        }
    }

    /// <summary>Marks <paramref name="name"/> wanted (creating it within the cap); true when something changed.</summary>
    private bool Want(string name, string source, DateTimeOffset now)
    {
        if (_certificates.TryGetValue(name, out var certificate))
        {
            if (certificate.Wanted)
            {
                return false;
            }
            certificate.Wanted = true;
            certificate.Source = source;
            certificate.NextAttempt = certificate.RenewAt is { } renewAt && certificate.Leaf is not null && certificate.Failures == 0 ? renewAt : now;
            return true;
        }
        if (_certificates.Count >= _maxCertificates)
        {
            if (_reported.Add(name))
            {
                Interlocked.Increment(ref _refused);
                Log.CapReached(_logger, name, _maxCertificates);
            }
            return false;
        }
        _certificates[name] = new ManagedCertificate(name) { Wanted = true, Source = source, NextAttempt = now };
        return true;
    }

    private async Task RunAsync(CancellationToken stopping)
    {
        while (!stopping.IsCancellationRequested)
        {
            ManagedCertificate? due;
            TimeSpan wait;
            lock (_lock)
            {
                var now = _time.GetUtcNow();
                PublishUnsynchronized(); // an expired certificate leaves the SNI selection (waiting names get the fallback)
                var next = _certificates.Values.Where(c => c.Wanted).MinBy(c => c.NextAttempt);
                due = next is not null && next.NextAttempt <= now ? next : null;
                // Timers cannot run longer than ~49 days; a wake-up after a day just finds nothing due and sleeps again.
                wait = next is null || next.NextAttempt == DateTimeOffset.MaxValue ? Timeout.InfiniteTimeSpan
                    : next.NextAttempt - now > MaxSleep ? MaxSleep : next.NextAttempt - now;
            }
            try
            {
                if (due is null)
                {
                    await WaitAsync(wait, stopping).ConfigureAwait(false);
                    continue;
                }
                await ProcessAsync(due, stopping).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                // A bug must not end certificate management for the life of the process: log it, pause, go on.
                Log.LoopFailed(_logger, ex);
                await Task.Delay(TimeSpan.FromSeconds(30), _time, stopping).ConfigureAwait(false);
            }
        }
    }

    private static readonly TimeSpan MaxSleep = TimeSpan.FromDays(1);

    /// <summary>Sleeps until <paramref name="wait"/> passes on the schedule's clock or new demand arrives.</summary>
    private async Task WaitAsync(TimeSpan wait, CancellationToken stopping)
    {
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(stopping);
        var signalled = _signal.WaitAsync(cancel.Token);
        var delay = wait == Timeout.InfiniteTimeSpan ? Task.Delay(Timeout.Infinite, cancel.Token) : Task.Delay(wait, _time, cancel.Token);
        await Task.WhenAny(signalled, delay).ConfigureAwait(false);
        await cancel.CancelAsync().ConfigureAwait(false);
        try
        {
            await Task.WhenAll(signalled, delay).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
        stopping.ThrowIfCancellationRequested();
    }

    private async Task ProcessAsync(ManagedCertificate certificate, CancellationToken stopping)
    {
        var now = _time.GetUtcNow();
        X509Certificate2? current;
        lock (_lock)
        {
            current = certificate.Leaf;
        }
        var certificateId = current is null ? null : RenewalSchedule.CertificateId(current);
        if (current is not null && certificate.Failures == 0 && certificate.RenewAt is { } renewAt && now < renewAt)
        {
            // Not due: the wake-up was for the CA's renewal information, which may move the date (RFC 9773 §4.3).
            await RefreshRenewalInfoAsync(certificate, certificateId, now, stopping).ConfigureAwait(false);
            return;
        }
        var renewal = current is not null;
        try
        {
            Log.Ordering(_logger, certificate.Name, renewal ? "renewal" : "first certificate");
            var (chainPem, keyPem) = await _issuer.IssueAsync([certificate.Name], certificateId, stopping).ConfigureAwait(false);
            var chain = LoadChain(chainPem, keyPem);
            _store.Save(CertificateStore.KeyOf(certificate.Name), chainPem, keyPem);
            var context = EdgeCertificates.CreateContext(chain);
            now = _time.GetUtcNow();
            lock (_lock)
            {
                Install(certificate, chain, context, now, fresh: true);
                PublishUnsynchronized();
            }
            Interlocked.Increment(ref _issued);
            Log.Issued(_logger, certificate.Name, renewal ? "renewed" : "issued", new DateTimeOffset(chain[0].NotAfter), certificate.RenewAt);
            // Ask for the new certificate's renewal information right away where the CA offers it.
            await RefreshRenewalInfoAsync(certificate, RenewalSchedule.CertificateId(chain[0]), now, stopping).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is AcmeException or CryptographicException or IOException or UnauthorizedAccessException)
        {
            var error = ex as AcmeException;
            Interlocked.Increment(ref _failed);
            now = _time.GetUtcNow();
            DateTimeOffset retryAt;
            lock (_lock)
            {
                certificate.Failures++;
                certificate.LastError = ex.Message;
                certificate.LastErrorAt = now;
                retryAt = now + RenewalSchedule.Backoff(certificate.Failures, error, Random.Shared.NextDouble());
                certificate.NextAttempt = retryAt;
            }
            if (renewal)
            {
                Log.RenewalFailed(_logger, certificate.Name, certificate.Failures, ex.Message, retryAt, new DateTimeOffset(current!.NotAfter));
            }
            else
            {
                Log.IssueFailed(_logger, certificate.Name, certificate.Failures, ex.Message, retryAt);
            }
        }
    }

    /// <summary>Moves the renewal date into the CA's suggested window, and plans the next look; failures keep the date.</summary>
    private async Task RefreshRenewalInfoAsync(ManagedCertificate certificate, string? certificateId, DateTimeOffset now, CancellationToken stopping)
    {
        RenewalInfo? info = null;
        if (certificateId is not null)
        {
            try
            {
                info = await _client.GetRenewalInfoAsync(certificateId, stopping).ConfigureAwait(false);
            }
            catch (AcmeException ex)
            {
                Log.RenewalInfoFailed(_logger, certificate.Name, ex.Message);
            }
        }
        lock (_lock)
        {
            if (info?.SuggestedWindow is { } window)
            {
                certificate.RenewAt = RenewalSchedule.InWindow(window, Random.Shared.NextDouble());
            }
            var renewAt = certificate.RenewAt ?? now;
            certificate.NextAttempt = info is null ? renewAt : Min(renewAt, now + (info.RetryAfter ?? RenewalSchedule.RenewalInfoInterval));
        }
    }

    private static DateTimeOffset Min(DateTimeOffset a, DateTimeOffset b) => a < b ? a : b;

    /// <summary>Makes <paramref name="chain"/> the served certificate and schedules its renewal. Caller holds the lock.</summary>
    private static void Install(ManagedCertificate certificate, X509Certificate2Collection chain, SslStreamCertificateContext context, DateTimeOffset now, bool fresh)
    {
        var leaf = chain[0];
        certificate.Leaf = leaf;
        certificate.Context = context;
        var notBefore = new DateTimeOffset(leaf.NotBefore);
        var notAfter = new DateTimeOffset(leaf.NotAfter);
        certificate.RenewAt = RenewalSchedule.RenewAt(notBefore, notAfter, Random.Shared.NextDouble());
        if (fresh)
        {
            // A certificate just issued is never due at once, whatever the clocks say (a CA clock behind ours would
            // otherwise make every new certificate look old and loop into the rate limit).
            var earliest = now + (notAfter - notBefore) / 10;
            if (certificate.RenewAt < earliest)
            {
                certificate.RenewAt = earliest;
            }
            certificate.Failures = 0;
            certificate.LastError = null;
            certificate.IssuedAt = now;
        }
        if (certificate.Wanted)
        {
            certificate.NextAttempt = certificate.RenewAt.Value;
        }
    }

    /// <summary>
    /// Hands the current certificates, and the names still waiting, to the SNI selection. Caller holds the lock, so
    /// what status reports and what handshakes get never disagree.
    /// </summary>
    private void PublishUnsynchronized()
    {
        var now = _time.GetUtcNow();
        var byName = new Dictionary<string, SslStreamCertificateContext>(StringComparer.OrdinalIgnoreCase);
        var waiting = new List<string>();
        foreach (var certificate in _certificates.Values)
        {
            if (certificate.Context is { } context && certificate.Leaf is { } leaf && new DateTimeOffset(leaf.NotAfter) > now)
            {
                byName[certificate.Name] = context;
            }
            else if (certificate.Wanted)
            {
                waiting.Add(certificate.Name);
            }
        }
        _sni.SetIssued(byName, waiting);
    }

    private static X509Certificate2Collection LoadChain(string chainPem, string keyPem)
    {
        var all = new X509Certificate2Collection();
        all.ImportFromPem(chainPem);
        if (all.Count == 0)
        {
            throw new AcmeException("the CA's certificate download holds no certificate");
        }
        using var withKey = X509Certificate2.CreateFromPem(chainPem, keyPem);
        var chain = new X509Certificate2Collection { X509CertificateLoader.LoadPkcs12(withKey.Export(X509ContentType.Pkcs12), null) };
        for (var i = 1; i < all.Count; i++)
        {
            chain.Add(all[i]);
        }
        return chain;
    }

    public async ValueTask DisposeAsync()
    {
        _routes.Changed -= OnRoutesChanged;
        await _stopping.CancelAsync().ConfigureAwait(false);
        await _loop.ConfigureAwait(false);
        _stopping.Dispose();
        _signal.Dispose();
        _client.Dispose();
    }

    private static partial class Log
    {
        [LoggerMessage(610, LogLevel.Information, "ACME: loaded the stored certificate for {Name} (expires {NotAfter:u})", EventName = "AcmeStoredLoaded")]
        public static partial void StoredLoaded(ILogger logger, string name, DateTimeOffset notAfter);

        [LoggerMessage(611, LogLevel.Warning, "ACME: the stored certificate for {Name} cannot be read ({Error}); it is issued again if still needed", EventName = "AcmeStoredUnreadable")]
        public static partial void StoredUnreadable(ILogger logger, string name, string error);

        [LoggerMessage(612, LogLevel.Information, "ACME: ordering the {What} for {Name}", EventName = "AcmeOrdering")]
        public static partial void Ordering(ILogger logger, string name, string what);

        [LoggerMessage(613, LogLevel.Information, "ACME: certificate for {Name} {What}; expires {NotAfter:u}, renewal planned at {RenewAt:u}", EventName = "AcmeCertificateIssued")]
        public static partial void Issued(ILogger logger, string name, string what, DateTimeOffset notAfter, DateTimeOffset? renewAt);

        [LoggerMessage(614, LogLevel.Warning, "ACME: issuing the certificate for {Name} failed ({Failures} in a row): {Error}. Handshakes for it get the fallback certificate or are refused; next try at {RetryAt:u}", EventName = "AcmeIssueFailed")]
        public static partial void IssueFailed(ILogger logger, string name, int failures, string error, DateTimeOffset retryAt);

        [LoggerMessage(615, LogLevel.Warning, "ACME: renewing the certificate for {Name} failed ({Failures} in a row): {Error}. The current certificate is still served (it expires {NotAfter:u}); next try at {RetryAt:u}", EventName = "AcmeRenewalFailed")]
        public static partial void RenewalFailed(ILogger logger, string name, int failures, string error, DateTimeOffset retryAt, DateTimeOffset notAfter);

        [LoggerMessage(616, LogLevel.Information, "ACME: no certificate is requested for {Host}: {Reason}", EventName = "AcmeNameRefused")]
        public static partial void NameRefused(ILogger logger, string host, string reason);

        [LoggerMessage(617, LogLevel.Warning, "ACME: no certificate is requested for {Name}: the edge already keeps acme.max_certificates ({Max})", EventName = "AcmeCapReached")]
        public static partial void CapReached(ILogger logger, string name, int max);

        [LoggerMessage(619, LogLevel.Error, "ACME: the certificate loop failed; it goes on in 30 s", EventName = "AcmeLoopFailed")]
        public static partial void LoopFailed(ILogger logger, Exception exception);

        [LoggerMessage(618, LogLevel.Debug, "ACME: renewal information for {Name} unavailable: {Error}", EventName = "AcmeRenewalInfoFailed")]
        public static partial void RenewalInfoFailed(ILogger logger, string name, string error);
    }
}
