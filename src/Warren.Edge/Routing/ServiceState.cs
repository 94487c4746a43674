namespace Warren.Edge.Routing;

/// <summary>What the operator set on a service through the admin API (docs/operations.md, "Draining a service and maintenance").</summary>
internal enum ServiceState
{
    /// <summary>Served as usual.</summary>
    Active,

    /// <summary>No new request or TCP connection; open ones finish. Becomes <see cref="Drained"/> when none is left.</summary>
    Draining,

    /// <summary>Drained: nothing open, nothing new, until the drain is ended (resume).</summary>
    Drained,

    /// <summary>Maintenance: HTTP requests get the 503 page with Retry-After, TCP connections are refused; open ones go on.</summary>
    Maintenance,
}
