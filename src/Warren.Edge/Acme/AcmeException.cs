using System.Net;

namespace Warren.Edge.Acme;

/// <summary>
/// The CA refused a request with an RFC 8555 §6.7 problem document (or answered nothing usable). Carries what the
/// renewal schedule needs: the problem type, and when the CA said to try again (Retry-After).
/// </summary>
internal sealed class AcmeException(string message, string? type = null, HttpStatusCode? status = null, TimeSpan? retryAfter = null, Exception? inner = null)
    : Exception(message, inner)
{
    public const string ErrorPrefix = "urn:ietf:params:acme:error:";

    /// <summary>The problem type, e.g. urn:ietf:params:acme:error:rateLimited; null when the CA sent none.</summary>
    public string? Type { get; } = type;

    public HttpStatusCode? Status { get; } = status;

    /// <summary>The CA's Retry-After, when it sent one (rate limits, maintenance).</summary>
    public TimeSpan? RetryAfter { get; } = retryAfter;

    /// <summary>The type without the ACME prefix ("rateLimited", "badNonce"), for logs and status.</summary>
    public string ShortType => Type is null ? "unknown" : Type.StartsWith(ErrorPrefix, StringComparison.Ordinal) ? Type[ErrorPrefix.Length..] : Type;

    public bool IsBadNonce => Type == ErrorPrefix + "badNonce";

    public bool IsRateLimited => Type == ErrorPrefix + "rateLimited" || Status == HttpStatusCode.TooManyRequests;
}
