using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging;

namespace Warren.Edge.Acme;

/// <summary>
/// Runs one order end to end (RFC 8555 §7.4): account (created once, then reused from the store), new order, one
/// challenge per pending authorization through the solvers, finalize with a CSR for a fresh P-256 key, download.
/// Polls honour the CA's Retry-After. Knows nothing of schedules: the manager decides when to call it.
/// </summary>
internal sealed partial class AcmeIssuer(
    AcmeClient client, CertificateStore store, IReadOnlyList<IChallengeSolver> solvers, string? email, (string Kid, byte[] MacKey)? eab, ILogger logger)
{
    /// <summary>How long one order may take from new order to download.</summary>
    internal static TimeSpan OrderTimeout { get; set; } = TimeSpan.FromMinutes(5);

    private static readonly TimeSpan FirstPoll = TimeSpan.FromMilliseconds(500);
    private static readonly TimeSpan MaxPoll = TimeSpan.FromSeconds(10);

    /// <summary>Counts orders sent to the CA (tests and metrics read it).</summary>
    public long OrdersCreated => Interlocked.Read(ref _orders);

    private long _orders;

    /// <summary>Issues a certificate for <paramref name="names"/>; returns the PEM chain and the PEM private key.</summary>
    public async Task<(string ChainPem, string KeyPem)> IssueAsync(IReadOnlyList<string> names, string? replaces, CancellationToken cancellationToken)
    {
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        limit.CancelAfter(OrderTimeout);
        var token = limit.Token;
        try
        {
            await EnsureAccountAsync(token).ConfigureAwait(false);
            AcmeOrder order;
            try
            {
                order = await client.NewOrderAsync(names, replaces, token).ConfigureAwait(false);
            }
            catch (AcmeException ex) when (ex.Type == AcmeException.ErrorPrefix + "accountDoesNotExist")
            {
                // The CA lost or deactivated the stored account (a test CA restarted, an operator deactivated it):
                // register again once rather than failing every renewal from now on.
                Log.AccountForgotten(logger, client.AccountUrl?.AbsoluteUri);
                store.ForgetAccount();
                client.AccountUrl = null;
                await EnsureAccountAsync(token).ConfigureAwait(false);
                order = await client.NewOrderAsync(names, replaces, token).ConfigureAwait(false);
            }
            Interlocked.Increment(ref _orders);
            Log.OrderCreated(logger, string.Join(",", names), order.Url?.AbsoluteUri);

            foreach (var authorizationUrl in order.Authorizations)
            {
                await AuthorizeAsync(authorizationUrl, token).ConfigureAwait(false);
            }

            order = await WaitForOrderAsync(order, untilValid: false, token).ConfigureAwait(false);
            using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            var csr = CreateCsr(names, key);
            if (order.Status == "ready")
            {
                order = await client.FinalizeAsync(order, csr, token).ConfigureAwait(false);
            }
            order = await WaitForOrderAsync(order, untilValid: true, token).ConfigureAwait(false);
            if (order.Certificate is null)
            {
                throw new AcmeException("the order is valid but names no certificate URL (RFC 8555 §7.1.3)");
            }
            var chain = await client.DownloadCertificateAsync(order.Certificate, token).ConfigureAwait(false);
            return (chain, key.ExportPkcs8PrivateKeyPem());
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new AcmeException($"the order for {string.Join(", ", names)} did not complete within {OrderTimeout.TotalMinutes:0} minutes", "timeout");
        }
    }

    private async Task EnsureAccountAsync(CancellationToken cancellationToken)
    {
        if (client.AccountUrl is not null)
        {
            return;
        }
        if (store.LoadAccountUrl() is { } saved)
        {
            client.AccountUrl = saved;
            return;
        }
        var url = await client.NewAccountAsync(email, eab, onlyReturnExisting: false, cancellationToken).ConfigureAwait(false);
        store.SaveAccountUrl(url, email);
        Log.AccountRegistered(logger, url.AbsoluteUri);
    }

    private async Task AuthorizeAsync(Uri url, CancellationToken cancellationToken)
    {
        var (authorization, _) = await client.GetAuthorizationAsync(url, cancellationToken).ConfigureAwait(false);
        if (authorization.Status == "valid")
        {
            return; // reused from an earlier order (RFC 8555 §7.1.3 allows it)
        }
        var domain = authorization.Identifier.Value;
        var display = authorization.Wildcard ? "*." + domain : domain;
        if (authorization.Status != "pending")
        {
            throw new AcmeException($"the authorization for {display} is {authorization.Status}");
        }
        // The first configured solver the CA offers a challenge for, in the operator's order of preference.
        var (solver, challenge) = solvers
            .Where(s => s.CanSolve(domain, authorization.Wildcard))
            .Select(s => (Solver: s, Challenge: authorization.Challenges.FirstOrDefault(c => c.Type == s.Type)))
            .FirstOrDefault(p => p.Challenge is { Url: not null });
        if (solver is null || challenge is null)
        {
            var offered = string.Join(", ", authorization.Challenges.Select(c => c.Type));
            throw new AcmeException(authorization.Wildcard
                ? $"{display} is a wildcard, which needs dns-01; configure acme.dns_hook (the CA offered: {offered})"
                : $"no configured challenge type can prove {display} (the CA offered: {offered}; acme.challenges allows: {string.Join(", ", solvers.Select(s => s.Type))})", "unsupportedChallenge");
        }
        var keyAuthorization = client.Signer.KeyAuthorization(challenge.Token);
        await solver.PresentAsync(domain, challenge.Token, keyAuthorization, cancellationToken).ConfigureAwait(false);
        try
        {
            Log.ChallengeStarted(logger, solver.Type, display);
            await client.RespondAsync(challenge.Url!, cancellationToken).ConfigureAwait(false);
            var delay = FirstPoll;
            while (true)
            {
                var (current, retryAfter) = await client.GetAuthorizationAsync(url, cancellationToken).ConfigureAwait(false);
                if (current.Status == "valid")
                {
                    Log.ChallengeValid(logger, solver.Type, display);
                    return;
                }
                if (current.Status != "pending")
                {
                    var failed = current.Challenges.FirstOrDefault(c => c.Type == solver.Type);
                    throw new AcmeException($"{solver.Type} for {display} failed: {failed?.Error?.ToString() ?? current.Status}", failed?.Error?.Type ?? "unauthorized");
                }
                await PauseAsync(ref delay, retryAfter, cancellationToken).ConfigureAwait(false);
            }
        }
        finally
        {
            try
            {
                await solver.CleanupAsync(domain, challenge.Token, keyAuthorization, CancellationToken.None).ConfigureAwait(false);
            }
            catch (AcmeException ex)
            {
                Log.CleanupFailed(logger, solver.Type, display, ex.Message);
            }
        }
    }

    /// <summary>Polls the order until it is valid, or ready when <paramref name="untilValid"/> is false; invalid fails.</summary>
    private async Task<AcmeOrder> WaitForOrderAsync(AcmeOrder order, bool untilValid, CancellationToken cancellationToken)
    {
        var delay = FirstPoll;
        TimeSpan? retryAfter = null;
        while (true)
        {
            if (order.Status == "valid" || (order.Status == "ready" && !untilValid))
            {
                return order;
            }
            if (order.Status == "invalid")
            {
                throw new AcmeException($"the CA marked the order invalid: {order.Error?.ToString() ?? "no reason given"}", order.Error?.Type);
            }
            // pending (validations still running) or processing (being issued): ask again; OrderTimeout bounds it.
            await PauseAsync(ref delay, retryAfter, cancellationToken).ConfigureAwait(false);
            (order, retryAfter) = await client.PollOrderAsync(order.Url!, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Waits between polls: the CA's Retry-After when it gave one (capped), else a delay doubling to 10 s. Real time:
    /// the CA works in real time whatever clock the schedule runs on.
    /// </summary>
    private static Task PauseAsync(ref TimeSpan delay, TimeSpan? retryAfter, CancellationToken cancellationToken)
    {
        var wait = retryAfter is { } ra && ra > TimeSpan.Zero ? TimeSpan.FromTicks(Math.Min(ra.Ticks, MaxPoll.Ticks * 3)) : delay;
        delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, MaxPoll.Ticks));
        return Task.Delay(wait, TimeProvider.System, cancellationToken);
    }

    internal static byte[] CreateCsr(IReadOnlyList<string> names, ECDsa key)
    {
        var request = new CertificateRequest("CN=" + names[0], key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        foreach (var name in names)
        {
            san.AddDnsName(name);
        }
        request.CertificateExtensions.Add(san.Build());
        return request.CreateSigningRequest();
    }

    private static partial class Log
    {
        [LoggerMessage(600, LogLevel.Information, "ACME account registered: {Account}", EventName = "AcmeAccountRegistered")]
        public static partial void AccountRegistered(ILogger logger, string account);

        [LoggerMessage(601, LogLevel.Warning, "The CA does not know the stored ACME account {Account}; registering a new one", EventName = "AcmeAccountForgotten")]
        public static partial void AccountForgotten(ILogger logger, string? account);

        [LoggerMessage(602, LogLevel.Information, "ACME order for {Names} created: {Order}", EventName = "AcmeOrderCreated")]
        public static partial void OrderCreated(ILogger logger, string names, string? order);

        [LoggerMessage(603, LogLevel.Information, "ACME {Type} challenge for {Name} started", EventName = "AcmeChallengeStarted")]
        public static partial void ChallengeStarted(ILogger logger, string type, string name);

        [LoggerMessage(604, LogLevel.Information, "ACME {Type} challenge for {Name} is valid", EventName = "AcmeChallengeValid")]
        public static partial void ChallengeValid(ILogger logger, string type, string name);

        [LoggerMessage(605, LogLevel.Warning, "Cleaning up the ACME {Type} challenge for {Name} failed: {Message}", EventName = "AcmeChallengeCleanupFailed")]
        public static partial void CleanupFailed(ILogger logger, string type, string name, string message);
    }
}
