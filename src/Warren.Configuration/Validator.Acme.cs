using System.Globalization;

namespace Warren.Configuration;

/// <summary>The rules of the <c>acme:</c> section (docs/configuration.md, docs/https.md).</summary>
internal static partial class Validator
{
    private static void CheckAcme(Diagnostics d, EdgeConfig config)
    {
        if (config.Acme is not { } acme)
        {
            return;
        }

        if (string.IsNullOrEmpty(config.Listen.Https))
        {
            d.Report("acme", "needs listen.https: ACME certificates are served on the HTTPS listener; set listen.https (e.g. 0.0.0.0:443) or remove acme");
        }

        if (string.IsNullOrWhiteSpace(acme.Directory))
        {
            d.Report("acme.directory", "required: the CA's ACME directory URL, e.g. https://acme-staging-v02.api.letsencrypt.org/directory (Let's Encrypt staging) or https://acme-v02.api.letsencrypt.org/directory (production)");
        }
        else if (!Uri.TryCreate(acme.Directory, UriKind.Absolute, out var directory) || directory.Scheme != Uri.UriSchemeHttps || directory.UserInfo.Length > 0)
        {
            d.Report("acme.directory", $"'{acme.Directory}' is not an https:// URL; ACME (RFC 8555 §6.1) runs over HTTPS only, e.g. https://acme-v02.api.letsencrypt.org/directory");
        }

        if (!acme.AgreeToTerms)
        {
            d.Report("acme.agree_to_terms", "must be true: the edge accepts the CA's terms of service when it creates the account (read them first; Let's Encrypt's are at https://letsencrypt.org/repository/)");
        }

        if (acme.Email is { } email && (email.Length > 254 || email.Count(c => c == '@') != 1 || email.StartsWith('@') || email.EndsWith('@')
            || email.Any(c => char.IsWhiteSpace(c) || char.IsControl(c) || c is ',' or '<' or '>' or ':')))
        {
            d.Report("acme.email", $"'{email}' is not an e-mail address; use e.g. ops@example.com (the CA sends expiry warnings there)");
        }

        var challenges = acme.Challenges;
        for (var i = 0; i < challenges.Count; i++)
        {
            if (!AcmeConfig.ChallengeTypes.Contains(challenges[i]))
            {
                d.Report(Diagnostics.Item("acme.challenges", i), $"'{challenges[i]}' is not a challenge type the edge answers; use {string.Join(", ", AcmeConfig.ChallengeTypes)}");
            }
        }

        var explicitTypes = challenges.Count > 0;
        if (challenges.Contains("http-01") && string.IsNullOrEmpty(config.Listen.Http))
        {
            d.Report("acme.challenges", "http-01 is answered on the HTTP listener, and listen.http is off; set listen.http (the CA connects to port 80) or drop http-01");
        }

        if (challenges.Contains("dns-01") && acme.DnsHook is null)
        {
            d.Report("acme.challenges", "dns-01 needs acme.dns_hook, the command that sets and clears the TXT record");
        }

        var dnsAvailable = acme.DnsHook is not null && (!explicitTypes || challenges.Contains("dns-01"));
        if (acme.DnsHook is { } hook)
        {
            CheckFile(d, "acme.dns_hook", hook, "the DNS hook executable");
        }

        CheckRange(d, "acme.dns_hook_timeout", acme.DnsHookTimeout, TimeSpan.FromSeconds(1), TimeSpan.FromHours(1));
        CheckRange(d, "acme.dns_delay", acme.DnsDelay, TimeSpan.Zero, TimeSpan.FromHours(1));

        CheckHostPatterns(d, "acme.hosts", acme.Hosts);
        var served = config.Certificates.SelectMany(c => c.Hosts).ToHashSet(StringComparer.OrdinalIgnoreCase);
        for (var i = 0; i < acme.Hosts.Count; i++)
        {
            var host = acme.Hosts[i];
            if (host.StartsWith("*.", StringComparison.Ordinal) && !dnsAvailable)
            {
                d.Report(Diagnostics.Item("acme.hosts", i), $"'{host}' is a wildcard, which CAs validate only through dns-01: set acme.dns_hook (and allow dns-01), or list the exact names");
            }

            if (served.Contains(host))
            {
                d.Report(Diagnostics.Item("acme.hosts", i), $"'{host}' already has a certificate in certificates; list it in one place only");
            }

            if (!host.Contains('.', StringComparison.Ordinal))
            {
                d.Report(Diagnostics.Item("acme.hosts", i), $"'{host}' is a single label; public CAs issue only for names in a domain, e.g. app.example.com");
            }
        }

        var hasEabKid = !string.IsNullOrEmpty(acme.EabKid);
        var hasEabKey = !string.IsNullOrEmpty(acme.EabHmacKey);
        if (hasEabKid != hasEabKey)
        {
            d.Report(hasEabKid ? "acme.eab_hmac_key" : "acme.eab_kid", "external account binding needs both eab_kid and eab_hmac_key (the CA gives them together), or neither");
        }
        else if (hasEabKey && !IsBase64Url(acme.EabHmacKey!))
        {
            d.Report("acme.eab_hmac_key", $"is not base64url (A-Z, a-z, 0-9, '-', '_'; it is {acme.EabHmacKey!.Length} characters; the value is not shown); paste it exactly as the CA gives it");
        }

        if (acme.CaBundle is { } bundle)
        {
            CheckFile(d, "acme.ca_bundle", bundle, "the PEM file of CA certificates to trust for the directory");
        }

        var hasFallbackCert = !string.IsNullOrEmpty(acme.FallbackCert);
        var hasFallbackKey = !string.IsNullOrEmpty(acme.FallbackKey);
        if (hasFallbackCert != hasFallbackKey)
        {
            d.Report(hasFallbackCert ? "acme.fallback_key" : "acme.fallback_cert", "the fallback certificate needs both fallback_cert and fallback_key, or neither (then a name waiting for its certificate is refused)");
        }

        if (hasFallbackCert)
        {
            CheckFile(d, "acme.fallback_cert", acme.FallbackCert!, "the fallback PEM certificate");
        }

        if (hasFallbackKey)
        {
            CheckFile(d, "acme.fallback_key", acme.FallbackKey!, "the fallback PEM private key");
        }

        if (acme.MaxCertificates is < 1 or > 100_000)
        {
            d.Report("acme.max_certificates", $"must be 1 to 100000 (it is {acme.MaxCertificates.ToString(CultureInfo.InvariantCulture)})");
        }
        else if (acme.Hosts.Count > acme.MaxCertificates)
        {
            d.Report("acme.max_certificates", $"is {acme.MaxCertificates.ToString(CultureInfo.InvariantCulture)}, fewer than the {acme.Hosts.Count.ToString(CultureInfo.InvariantCulture)} acme.hosts; raise it");
        }
    }

    private static bool IsBase64Url(string text) => text.Length > 0 && text.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '=');
}
