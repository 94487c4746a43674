namespace Warren.Edge.Shield;

/// <summary>Where the abuse shield refused a banned client: the <c>kind</c> of <c>warren_shield_refused_total</c> (docs/observability.md).</summary>
internal enum ShieldRefusal
{
    /// <summary>An HTTP request answered 403 (a client behind a trusted proxy, or a request on a connection accepted before the ban).</summary>
    Http,

    /// <summary>A connection to a TCP service, reset at accept.</summary>
    Tcp,

    /// <summary>A connection to a public HTTP or HTTPS listener, reset at accept before TLS and before any HTTP parsing.</summary>
    Connection,

    /// <summary>A connection to the agents listener, closed at accept before TLS.</summary>
    Agent,
}
