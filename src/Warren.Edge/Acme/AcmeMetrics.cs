using Prometheus;

namespace Warren.Edge.Acme;

/// <summary>
/// The ACME metrics (docs/observability.md), read from the manager at scrape time. The certificate label is a name
/// from acme.hosts or a granted, registered hostname, bounded by acme.max_certificates; never request input.
/// </summary>
internal static class AcmeMetrics
{
    private static readonly string[] States = ["valid", "waiting", "failing", "renewal_failing", "expired"];

    public static void Register(CollectorRegistry registry, CertificateManager manager)
    {
        var f = Metrics.WithCustomRegistry(registry);
        var certificates = f.CreateGauge("warren_edge_acme_certificates", "ACME certificates by state: valid, waiting (first issuance pending), failing (never issued, retrying), renewal_failing (old one still served), expired.", ["state"]);
        var orders = f.CreateCounter("warren_edge_acme_orders_total", "ACME orders sent to the CA.");
        var results = f.CreateCounter("warren_edge_acme_issuances_total", "Certificate issuance attempts by result (issued: first or renewal; failed: any error, retried with back-off).", ["result"]);
        var refused = f.CreateCounter("warren_edge_acme_names_refused_total", "Registered hostnames for which no certificate is requested: outside the policy or over acme.max_certificates.");
        var expiry = f.CreateGauge("warren_edge_acme_certificate_expiry_timestamp_seconds", "When the served ACME certificate expires (Unix time).", ["certificate"]);
        var failures = f.CreateGauge("warren_edge_acme_certificate_failures", "Consecutive failed attempts to issue or renew the certificate (0 when the last one succeeded).", ["certificate"]);
        var issued = results.WithLabels("issued");
        var failed = results.WithLabels("failed");
        registry.AddBeforeCollectCallback(() =>
        {
            orders.IncTo(manager.OrdersCreated);
            issued.IncTo(manager.Issued);
            failed.IncTo(manager.Failed);
            refused.IncTo(manager.Refused);
            var snapshot = manager.Snapshot();
            foreach (var state in States)
            {
                certificates.WithLabels(state).Set(snapshot.Count(c => c.State == state));
            }
            foreach (var certificate in snapshot)
            {
                failures.WithLabels(certificate.Name).Set(certificate.Failures);
                if (certificate.NotAfter is { } notAfter)
                {
                    expiry.WithLabels(certificate.Name).Set(notAfter.ToUnixTimeSeconds());
                }
            }
        });
    }
}
