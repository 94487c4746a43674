using System.Security.Cryptography.X509Certificates;

namespace Warren.Edge.Acme;

/// <summary>
/// When to renew and when to try again (docs/https.md "Renewal"). Pure functions of the certificate, the CA's
/// answers and a random number, so tests check them without a clock.
/// </summary>
internal static class RenewalSchedule
{
    /// <summary>The first retry after a failure; doubled per consecutive failure.</summary>
    public static readonly TimeSpan FirstRetry = TimeSpan.FromMinutes(1);

    /// <summary>Retries never wait longer than this, so an outage's end is noticed within a day.</summary>
    public static readonly TimeSpan MaxRetry = TimeSpan.FromDays(1);

    /// <summary>A rate-limited order is not repeated sooner than this, whatever Retry-After says.</summary>
    public static readonly TimeSpan MinRateLimitedRetry = TimeSpan.FromHours(1);

    /// <summary>How often the CA's renewal information is asked again when it gives no Retry-After (RFC 9773 §4.3 suggests 6 h).</summary>
    public static readonly TimeSpan RenewalInfoInterval = TimeSpan.FromHours(6);

    /// <summary>
    /// Without renewal information: two thirds into the lifetime, minus a random part of up to a fifteenth of it, so
    /// certificates issued together (a restart, a fleet) do not all renew in the same minute. For a 90-day
    /// certificate: between day 54 and day 60, a month before expiry.
    /// </summary>
    public static DateTimeOffset RenewAt(DateTimeOffset notBefore, DateTimeOffset notAfter, double random)
    {
        var lifetime = notAfter - notBefore;
        return notBefore + lifetime * (2.0 / 3.0) - lifetime / 15 * Math.Clamp(random, 0, 1);
    }

    /// <summary>With renewal information: a uniformly random moment of the CA's window (RFC 9773 §4.2).</summary>
    public static DateTimeOffset InWindow(RenewalWindow window, double random)
    {
        if (window.End <= window.Start)
        {
            return window.Start;
        }
        return window.Start + (window.End - window.Start) * Math.Clamp(random, 0, 1);
    }

    /// <summary>
    /// How long to wait after the <paramref name="failures"/>-th failure in a row: 1 min doubling to a day, ±10%
    /// jitter, never sooner than the CA's Retry-After, and at least an hour after a rate limit.
    /// </summary>
    public static TimeSpan Backoff(int failures, AcmeException? error, double random)
    {
        var exponent = Math.Clamp(failures - 1, 0, 20);
        var wait = TimeSpan.FromTicks(Math.Min(FirstRetry.Ticks << exponent, MaxRetry.Ticks));
        wait *= 0.9 + 0.2 * Math.Clamp(random, 0, 1);
        if (error?.RetryAfter is { } retryAfter && retryAfter > wait)
        {
            wait = retryAfter;
        }
        if (error?.IsRateLimited == true && wait < MinRateLimitedRetry)
        {
            wait = MinRateLimitedRetry;
        }
        return wait;
    }

    /// <summary>
    /// The certificate's ARI identifier (RFC 9773 §4.1): base64url(authority key identifier) "." base64url(serial),
    /// or null when it has no authority key identifier.
    /// </summary>
    public static string? CertificateId(X509Certificate2 certificate)
    {
        var aki = certificate.Extensions.OfType<X509AuthorityKeyIdentifierExtension>().FirstOrDefault()?.KeyIdentifier;
        if (aki is not { Length: > 0 } keyIdentifier)
        {
            return null;
        }
        return JwsSigner.Base64Url(keyIdentifier.Span) + "." + JwsSigner.Base64Url(certificate.SerialNumberBytes.Span);
    }
}
