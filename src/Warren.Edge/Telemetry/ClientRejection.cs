namespace Warren.Edge.Telemetry;

/// <summary>Why the edge refused a client of a service before it reached the agent: label values of warren_service_rejected_total.</summary>
internal enum ClientRejection
{
    /// <summary>The client's address (or IPv6 /64) held its cap for the service: per_ip_limit.</summary>
    PerIpLimit,

    /// <summary>The service held its cap of connections from all clients together: service_limit.</summary>
    ServiceLimit,
}
