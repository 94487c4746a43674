namespace Warren.Edge.Policy;

/// <summary>What <see cref="BasicAuthenticator"/> made of a request's credentials.</summary>
internal enum BasicVerdict
{
    /// <summary>No Basic credentials, or wrong ones: 401 with the challenge (unless another method of the layer accepts).</summary>
    Rejected,

    Accepted,

    /// <summary>Too many verifications waiting edge-wide (a flood of guesses): 503 with Retry-After, nothing verified.</summary>
    Busy,
}
