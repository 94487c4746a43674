using Microsoft.Extensions.Logging;
using Warren.Configuration;
using Warren.Edge.Routing;
using Warren.Edge.Tls;

namespace Warren.Edge.Acme;

/// <summary>
/// The ACME pieces of one edge, built from <c>acme:</c>: the challenge responders the listeners consult, and the
/// manager that issues and renews. Null responders are types the configuration does not allow.
/// </summary>
internal sealed class AcmeServices
{
    private AcmeServices(CertificateManager manager, Http01Responder? http01, TlsAlpn01Responder? tlsAlpn01)
    {
        Manager = manager;
        Http01 = http01;
        TlsAlpn01 = tlsAlpn01;
    }

    public CertificateManager Manager { get; }

    public Http01Responder? Http01 { get; }

    public TlsAlpn01Responder? TlsAlpn01 { get; }

    public static AcmeServices Create(EdgeConfig config, AcmeConfig acme, SniCertificateSelector sni, RouteTable routes, TimeProvider time, ILoggerFactory loggerFactory)
    {
        var logger = loggerFactory.CreateLogger("Warren.Edge.Acme");
        // The operator's order of challenge types, else: http-01, tls-alpn-01, dns-01 as the listeners and hook allow.
        var types = acme.Challenges.Count > 0 ? acme.Challenges : AcmeConfig.ChallengeTypes;
        var solvers = new List<IChallengeSolver>();
        Http01Responder? http01 = null;
        TlsAlpn01Responder? tlsAlpn01 = null;
        foreach (var type in types)
        {
            switch (type)
            {
                case "http-01" when !string.IsNullOrEmpty(config.Listen.Http):
                    solvers.Add(http01 = new Http01Responder());
                    break;
                case "tls-alpn-01" when !string.IsNullOrEmpty(config.Listen.Https):
                    solvers.Add(tlsAlpn01 = new TlsAlpn01Responder());
                    break;
                case "dns-01" when acme.DnsHook is not null:
                    solvers.Add(new Dns01Hook(acme.DnsHook, acme.DnsHookTimeout, acme.DnsDelay, time));
                    break;
            }
        }
        var directory = new Uri(acme.Directory);
        var store = new CertificateStore(config.DataDirectory, directory);
        var client = new AcmeClient(directory, new JwsSigner(store.LoadOrCreateAccountKey()), AcmeClient.CreateHandler(acme.CaBundle));
        (string, byte[])? eab = acme.EabKid is { } kid && acme.EabHmacKey is { } key ? (kid, JwsSigner.FromBase64Url(key)) : null;
        var issuer = new AcmeIssuer(client, store, solvers, acme.Email, eab, logger);
        var policy = new IssuancePolicy(acme, config.Certificates, dnsAvailable: solvers.Any(s => s.Type == "dns-01"));
        var manager = new CertificateManager(policy, store, client, issuer, sni, routes, acme.MaxCertificates, time, logger);
        return new AcmeServices(manager, http01, tlsAlpn01);
    }
}
