namespace Warren.Configuration.Tests;

/// <summary>The <c>acme:</c> rules (docs/configuration.md, docs/https.md): each mistake named with its line and a fix.</summary>
public sealed class AcmeValidationTests : IDisposable
{
    private const string Listen = "listen:\n  http: 127.0.0.1:0\n  https: 127.0.0.1:0\n";
    private readonly TestFiles _files = new();

    public void Dispose() => _files.Dispose();

    private IReadOnlyList<ConfigError> Errors(string acme, out string path, string listen = Listen)
    {
        path = _files.Write("edge.yaml", listen + "acme:\n" + acme);
        return TestFiles.EdgeErrors(path);
    }

    [Fact]
    public void Acme_ValidSection_IsRead()
    {
        _files.Write("hook.sh", "#!/bin/sh\n");
        var config = ConfigLoader.LoadEdge(_files.Write("edge.yaml", Listen + """
            acme:
              directory: https://acme-staging-v02.api.letsencrypt.org/directory
              email: ops@example.com
              agree_to_terms: true
              hosts: [example.com, "*.example.com"]
              on_demand: false
              challenges: [dns-01, http-01]
              dns_hook: hook.sh
              dns_delay: 10s
              eab_kid: kid-1
              eab_hmac_key: zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W
              max_certificates: 5
            """), TestFiles.NoEnvironment);

        var acme = Assert.IsType<AcmeConfig>(config.Acme);
        Assert.Equal("https://acme-staging-v02.api.letsencrypt.org/directory", acme.Directory);
        Assert.Equal(["example.com", "*.example.com"], acme.Hosts);
        Assert.False(acme.OnDemand);
        Assert.Equal(["dns-01", "http-01"], acme.Challenges);
        Assert.Equal(Path.Combine(_files.Directory, "hook.sh"), acme.DnsHook);
        Assert.Equal(TimeSpan.FromSeconds(10), acme.DnsDelay);
        Assert.Equal(5, acme.MaxCertificates);
    }

    [Fact]
    public void Acme_Absent_IsOff() =>
        Assert.Null(ConfigLoader.LoadEdge(_files.Write("edge.yaml", Listen), TestFiles.NoEnvironment).Acme);

    [Theory]
    [InlineData("  directory: http://ca.example/dir\n  agree_to_terms: true\n", 2, "acme.directory", "is not an https:// URL")]
    [InlineData("  agree_to_terms: true\n", 1, "acme.directory", "required: the CA's ACME directory URL")]
    [InlineData("  directory: https://ca.example/dir\n", 1, "acme.agree_to_terms", "must be true")]
    [InlineData("  directory: https://ca.example/dir\n  agree_to_terms: true\n  email: not-an-address\n", 4, "acme.email", "is not an e-mail address")]
    [InlineData("  directory: https://ca.example/dir\n  agree_to_terms: true\n  challenges: [http-02]\n", 4, "acme.challenges[0]", "'http-02' is not a challenge type")]
    [InlineData("  directory: https://ca.example/dir\n  agree_to_terms: true\n  challenges: [dns-01]\n", 4, "acme.challenges", "dns-01 needs acme.dns_hook")]
    [InlineData("  directory: https://ca.example/dir\n  agree_to_terms: true\n  hosts: [\"*.example.com\"]\n", 4, "acme.hosts[0]", "wildcard, which CAs validate only through dns-01")]
    [InlineData("  directory: https://ca.example/dir\n  agree_to_terms: true\n  hosts: [localhost]\n", 4, "acme.hosts[0]", "single label")]
    [InlineData("  directory: https://ca.example/dir\n  agree_to_terms: true\n  eab_kid: kid-1\n", 1, "acme.eab_hmac_key", "needs both eab_kid and eab_hmac_key")]
    [InlineData("  directory: https://ca.example/dir\n  agree_to_terms: true\n  eab_kid: kid-1\n  eab_hmac_key: \"not base64!\"\n", 5, "acme.eab_hmac_key", "is not base64url")]
    [InlineData("  directory: https://ca.example/dir\n  agree_to_terms: true\n  dns_hook: missing-hook.sh\n", 4, "acme.dns_hook", "file not found")]
    [InlineData("  directory: https://ca.example/dir\n  agree_to_terms: true\n  max_certificates: 0\n", 4, "acme.max_certificates", "must be 1 to 100000")]
    [InlineData("  directory: https://ca.example/dir\n  agree_to_terms: true\n  fallback_cert: missing.crt\n", 1, "acme.fallback_key", "needs both fallback_cert and fallback_key")]
    public void Acme_Mistakes_AreNamedWithAFix(string acme, int line, string field, string message)
    {
        var errors = Errors(acme, out var path);

        // Line numbers count from the acme: line (4); 1 means the error belongs to the section itself.
        TestFiles.AssertError(errors, path, line == 1 ? 4 : 3 + line, field, message);
    }

    [Fact]
    public void Acme_WithoutHttpsListener_IsRefused()
    {
        var errors = Errors("  directory: https://ca.example/dir\n  agree_to_terms: true\n", out var path, listen: "listen:\n  http: 127.0.0.1:0\n");

        TestFiles.AssertError(errors, path, 3, "acme", "needs listen.https");
    }

    [Fact]
    public void Acme_Http01WithoutHttpListener_IsRefused()
    {
        var errors = Errors("  directory: https://ca.example/dir\n  agree_to_terms: true\n  challenges: [http-01]\n", out var path, listen: "listen:\n  http: \"\"\n  https: 127.0.0.1:0\n");

        TestFiles.AssertError(errors, path, 7, "acme.challenges", "listen.http is off");
    }

    [Fact]
    public void Acme_EabKey_IsNeverShownInErrors()
    {
        const string key = "secret value that is not base64";
        var errors = Errors($"  directory: https://ca.example/dir\n  agree_to_terms: true\n  eab_kid: kid\n  eab_hmac_key: \"{key}\"\n", out _);

        Assert.DoesNotContain(errors, e => e.ToString().Contains(key, StringComparison.Ordinal));
    }
}
