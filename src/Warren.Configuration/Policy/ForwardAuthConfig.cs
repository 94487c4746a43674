namespace Warren.Configuration;

/// <summary>
/// YAML key <c>forward_auth</c>: every request is first asked of an external service (Authelia, Authentik,
/// oauth2-proxy style). A 2xx answer lets it through with <see cref="CopyHeaders"/> copied onto it; any other answer
/// goes back to the client as it is (a 302 to a login page, a 401 with its challenge).
/// </summary>
public sealed record ForwardAuthConfig
{
    /// <summary>YAML key <c>url</c>: http:// or https:// address of the auth service's check endpoint.</summary>
    public string Url { get; init; } = "";

    /// <summary>YAML key <c>copy_headers</c>: headers of the auth answer set on the forwarded request; clients' copies are removed.</summary>
    public IReadOnlyList<string> CopyHeaders { get; init; } = [];

    /// <summary>YAML key <c>forward_headers</c>: request headers sent to the auth service, besides X-Forwarded-Method/-Proto/-Host/-Uri/-For.</summary>
    public IReadOnlyList<string> ForwardHeaders { get; init; } = ["Cookie", "Authorization"];

    /// <summary>YAML key <c>timeout</c>: no answer in time is 503. Default 5 s.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(5);
}
